// GET /: the front door. Name, version and where to go next, as JSON or a short HTML page.
import Support

/// The index a new client lands on: no key needed, nothing read from the database.
enum Index {
    /// The links, in order: JSON name, path and what is there.
    static let links: [(name: StaticString, path: String, title: String)] = [
        ("docs", "/docs/", "API reference (interactive)"),
        ("openapi", "/openapi.json", "OpenAPI 3.1 document"),
        ("health", "/health", "service health (no key)"),
        ("data", "/data", "market records (x-api-key)"),
    ]

    /// Whether the client prefers HTML: `text/html` is named in Accept before any JSON type.
    static func wantsHTML(_ accept: String?) -> Bool {
        guard let accept = accept?.lowercased(), let html = accept.range(of: "text/html") else { return false }
        guard let json = accept.range(of: "application/json") else { return true }
        return html.lowerBound < json.lowerBound
    }

    /// The HTML page: the same for every request, so made once.
    static let html: [UInt8] = {
        var page = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kasparro API</title></head><body>\n"
        page += "<h1>kasparro API</h1>\n<p>Crypto market data from CoinPaprika, CoinGecko and historical CSV files, version \(kasparroVersion).</p>\n<ul>\n"
        for link in links { page += "<li><a href=\"\(link.path)\">\(link.path)</a>: \(link.title)</li>\n" }
        page += "</ul>\n</body></html>\n"
        return Array(page.utf8)
    }()

    static func json(requestID: String, latencyMS: Double) -> [UInt8] {
        var out = envelope(requestID: requestID, latencyMS: latencyMS)
        out.field("name", "kasparro")
        out.field("version", kasparroVersion)
        out.field("links")
        out.openObject()
        for link in links { out.field(link.name, link.path) }
        out.closeObject()
        out.closeObject()
        return out.bytes
    }
}
