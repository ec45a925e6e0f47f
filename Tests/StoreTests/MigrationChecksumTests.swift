// Released migrations never change: each one's SQL is held to the SHA-256 of its released bytes.
import Foundation
@testable import Store
import XCTest

final class MigrationChecksumTests: XCTestCase {
    /// The SHA-256 of each released migration's SQL (1..16 as released in 1.6.0; 17 in 1.7.0; 18 and 19 in 1.9.0).
    /// Moving a `#"""` literal can change its indentation and so its bytes: this catches that too.
    static let released: [Int: String] = [
        1: "dbb800bac3fec9a911dc0a96e0541d04be300a65ea5efc4d2ecb253f83a2402e",
        2: "51b453a36f903c17b4115ae096e3007f31caebee0b93d38728f377dfe7fb83ea",
        3: "bca7f5219657c604003f076df0fd7cde637967ab20e99e83d7da4d21babfb883",
        4: "fba9e4aa6f6add7f5894444ef4a0e1d7c6a32376d643a78f3698c415e7a4064c",
        5: "75fd6c1fdda7d4c15a9d722fece997667a759478e67a03e2b6247e3e71d937af",
        6: "5fa0756e738a0bd352f95d61cca8cb87be05d921f70ae1d7ce3f19ba3950f99c",
        7: "9bd82ef9350b341ae8db59567583247bb143441a0a27f3ac91673ed2d4f8b627",
        8: "c0dcc41434cc0119720feed160f41c42ef9fd6af56b3b49db701c900d9c48823",
        9: "f700f41e7687482a67a164c71391139dfaee36a3cd8c1dc0b43809818b245968",
        10: "049a2c94a3b6a6e5336cbc9f13042d491426466f88a710d141ecf2ee76013c73",
        11: "115b52e8f74954814837e840b363aa0bc0aef2a9c90d359fa14b889497ab0290",
        12: "f8b7ba683b0c0c93e1e92357b39ef5c6dc858bb009b62d06456b6583c0e867d7",
        13: "e0eb9b03ef42cd2a4178e0600ad7fc05c284a4bf13c5398d7db93c17fa942055",
        14: "4693ba13fbda1df64ffdcd18420d85c25d7841fc0c4a0b89fa8d72cc44be0684",
        15: "73143ecb29983b2f32021bc4ccb0fa7fc343dc23a7b1ad26aabc1ad2ca131e36",
        16: "9ec86bf1e5c4aec0ea9f6db0db5bea7f089e91e7c7ac603aa8350f79e114c65c",
        17: "8945ab33de3eabcc6811bff6cea45f5c748ae44095bcfcfad449d70da972239d",
        18: "bb189a69354fccfc0d29182cb2e64543f750885d18e2ffb3dfa18e0bfaa125a5",
        19: "d4056fff1a18145ccf0dfd8ae22030d413ad4a5ccebde79514de100fb3e18597",
    ]

    func testReleasedMigrationsKeepTheirExactBytes() throws {
        for migration in Migrations.all {
            guard let expected = MigrationChecksumTests.released[migration.version] else {
                XCTFail("migration \(migration.version) has no checksum: add it here when it is released")
                continue
            }
            XCTAssertEqual(try sha256(migration.sql), expected,
                           "migration \(migration.version) (\(migration.name)) changed: released migrations never change, add a new one")
        }
    }

    func testVersionsAscendWithoutGaps() {
        XCTAssertEqual(Migrations.all.map(\.version), Array(1...Migrations.all.count))
        XCTAssertEqual(Migrations.latest, Migrations.all.count)
    }

    func testTheChecksumSeesOneByte() throws {
        XCTAssertNotEqual(try sha256("SELECT 1;"), try sha256("SELECT 1; "))
        XCTAssertEqual(try sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// Coreutils' `sha256sum` of the UTF-8 bytes.
    private func sha256(_ text: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
    }
}
