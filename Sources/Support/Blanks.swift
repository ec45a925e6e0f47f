// Blank trimming shared by the CSV parser, the libpq wrapper and the sources.

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs, CR and LF.
    public func trimmingBlanks() -> Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        let sub = Substring(self)
        guard let start = sub.firstIndex(where: { !blank($0) }) else { return sub[sub.endIndex...] }
        let end = sub.lastIndex(where: { !blank($0) })!
        return sub[start...end]
    }
}
