// libFuzzer target: the decimal parser (make fuzz). Properties: a value or nil, never a crash; the
// kept text is the input without surrounding blanks and parses again to the same value; zero and
// sign agree with the digits.
import MarketData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    guard let number = DecimalText(text) else { return 0 }
    precondition(DecimalText(number.text) == number, "the kept text parses to another value")
    precondition(text.contains(number.text), "the kept text is not the input's")
    let mantissa = number.text.prefix { $0 != "e" && $0 != "E" }
    let nonZero = mantissa.contains { $0 >= "1" && $0 <= "9" }
    precondition(number.isZero == !nonZero, "isZero disagrees with the digits")
    precondition(!number.isNegative || (number.text.hasPrefix("-") && nonZero), "isNegative disagrees with the sign")
    return 0
}
