// Where a stream stopped reading: committed in the same transaction as the rows it covers.

/// Where a stream stopped reading.
struct Checkpoint {
    let stream: String
    let position: Int64
    let lineNo: Int64
    let detail: String
}
