// Blank trimming shared by the CSV parser, the libpq wrapper and the sources.

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs, CR and LF.
    ///
    /// Works on UTF-8 code units (every blank is ASCII, and no ASCII byte occurs inside a
    /// multi-byte sequence), so it is cheap enough for every field of every CSV line.
    public func trimmingBlanks() -> Substring {
        let sub = Substring(self)
        let utf8 = sub.utf8
        func blank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        guard let first = utf8.firstIndex(where: { !blank($0) }) else { return sub[sub.endIndex...] }
        let last = utf8.lastIndex(where: { !blank($0) })!
        return Substring(utf8[first...last])
    }
}
