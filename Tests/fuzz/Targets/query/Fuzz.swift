// libFuzzer target: the query-string decoders of /data, /runs and /compare-runs (make fuzz).
// Properties: a query or an APIError, never a crash; every rejection is a 400 that names a
// parameter ("name: why").
import API

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let query = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    check { () throws(APIError) in _ = try DataQuery(query: query) }
    for names in [["limit", "source", "status"], ["a", "b", "source"], []] as [Set<String>] {
        check { () throws(APIError) in
            let params = try QueryParameters(query, allowed: names)
            for name in names { _ = try params.integer(name, in: 1...500) }
        }
    }
    return 0
}

func check(_ body: () throws(APIError) -> Void) {
    do {
        try body()
    } catch {
        precondition(error.status == 400 && ["invalid_parameter", "unknown_parameter"].contains(error.code),
                     "a rejection that is not a 400 about a parameter: \(error)")
        precondition(error.message.contains(": "), "a rejection that names no parameter: \(error.message)")
    }
}
