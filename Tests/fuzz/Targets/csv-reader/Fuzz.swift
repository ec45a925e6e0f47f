// libFuzzer target: the CSV line reader (make fuzz). The first byte picks the chunk size (1..1024),
// the rest is the file. Properties: never a crash; the lines it returns, each with its `\n`, are
// exactly the input up to its last newline (nothing lost, nothing repeated across chunk edges).
import Foundation
@testable import Ingestion

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let chunk = data[0] < 128 ? Int(data[0] % 16) + 1 : 1 << Int(data[0] % 11)
    let file = Array(UnsafeBufferPointer(start: data + 1, count: count - 1))
    var offset = 0
    var reader = LineReader(chunkSize: chunk) { want in
        let end = min(offset + want, file.count)
        defer { offset = end }
        return Data(file[offset..<end])
    }
    var joined: [UInt8] = []
    while let line = try? reader.nextLine() {
        precondition(!line.contains(UInt8(ascii: "\n")), "a line holds a newline")
        joined += line
        joined.append(UInt8(ascii: "\n"))
    }
    let expected = file.lastIndex(of: UInt8(ascii: "\n")).map { Array(file[...$0]) } ?? []
    precondition(joined == expected, "the lines are not the input up to its last newline")
    return 0
}
