import Testing

@testable import Tooz

@Suite struct BackendURLTests {
    @Test func parsesToozRedisForm() throws {
        let url = try BackendURL("redis://user:s3cret@127.0.0.1:6379/0?timeout=10&sentinel_fallback=a:1&sentinel_fallback=b:2")
        #expect(url.scheme == "redis")
        #expect(url.user == "user")
        #expect(url.password == "s3cret")
        #expect(url.host == "127.0.0.1")
        #expect(url.port == 6379)
        #expect(url.path == "/0")
        #expect(url.option("timeout") == "10")
        #expect(url.options["sentinel_fallback"] == ["a:1", "b:2"])
    }

    @Test func lastValueWinsLikeToozCollapse() throws {
        let url = try BackendURL("memory://x?timeout=1&timeout=2")
        #expect(url.option("timeout") == "2")
    }

    @Test func parsesFileAndIPC() throws {
        let file = try BackendURL("file:///var/lib/tooz")
        #expect(file.host == nil)
        #expect(file.path == "/var/lib/tooz")
        let ipc = try BackendURL("ipc://")
        #expect(ipc.scheme == "ipc")
        #expect(ipc.host == nil)
        #expect(ipc.path == "")
    }

    @Test func parsesIPv6Hosts() throws {
        let url = try BackendURL("zookeeper://[::1]:2181")
        #expect(url.host == "::1")
        #expect(url.port == 2181)
        #expect(url.redacted == "zookeeper://[::1]:2181")
    }

    @Test func percentDecodesPasswordAndPath() throws {
        let url = try BackendURL("postgresql://tooz:p%40ss@localhost/db%20name")
        #expect(url.password == "p@ss")
        #expect(url.path == "/db name")
    }

    @Test func redactsPasswordEverywhere() throws {
        let url = try BackendURL("redis://:hunter2@localhost:6379")
        #expect(!url.description.contains("hunter2"))
        #expect(url.description == "redis://:***@localhost:6379")
        #expect(BackendURL.redact("redis://u:hunter2@host:1/x") == "redis://u:***@host:1/x")
        #expect(BackendURL.redact("no scheme at all") == "no scheme at all")
    }

    @Test func errorsNeverContainThePassword() {
        for bad in ["redis://u:hunter2@host:99999", "redis://u:hunter2@host:abc", "redis://u:hunter2@[::1"] {
            #expect {
                _ = try BackendURL(bad)
            } throws: { error in
                let error = error as! ToozError
                return error.code == .invalidConfiguration && !error.description.contains("hunter2")
            }
        }
    }

    @Test(arguments: ["localhost:6379", "://x", "re dis://x", ""])
    func refusesMalformedURLs(_ text: String) {
        #expect(throws: ToozError.self) { _ = try BackendURL(text) }
    }

    @Test func refusesBadPercentEscapes() {
        #expect(throws: ToozError.self) { _ = try BackendURL("file:///tmp/%zz") }
        #expect(throws: ToozError.self) { _ = try BackendURL("file:///tmp/%ff") }
    }

    @Test func validatesOptionsByName() throws {
        let url = try BackendURL("memory://?timeout=3&bogus=1")
        #expect {
            try url.validateOptions(accepted: ["timeout"])
        } throws: { error in
            let error = error as! ToozError
            return error.code == .invalidConfiguration && error.message.contains("bogus")
                && error.message.contains("timeout")
        }
    }

    @Test func durationOptions() throws {
        #expect(try BackendURL("memory://?t=1.5").durationOption("t") == .milliseconds(1500))
        #expect(try BackendURL("memory://").durationOption("t") == nil)
        for bad in ["0", "-1", "abc", "inf", "nan"] {
            #expect(throws: ToozError.self) { _ = try BackendURL("memory://?t=\(bad)").durationOption("t") }
        }
    }

    @Test func boolOptionsInOsloSpellings() throws {
        #expect(try BackendURL("memory://?ssl=yes").boolOption("ssl") == true)
        #expect(try BackendURL("memory://?ssl=0").boolOption("ssl") == false)
        #expect(throws: ToozError.self) { _ = try BackendURL("memory://?ssl=maybe").boolOption("ssl") }
    }

    @Test func configurationAppliesCommonOptions() throws {
        var configuration = CoordinatorConfiguration()
        try configuration.apply(
            BackendURL("memory://?timeout=4&lock_timeout=2&leader_timeout=3&membership_timeout=5&poll_interval=0.25")
        )
        #expect(configuration.operationTimeout == .seconds(4))
        #expect(configuration.lockTTL == .seconds(2))
        #expect(configuration.leaderTTL == .seconds(3))
        #expect(configuration.membershipTTL == .seconds(5))
        #expect(configuration.eventPollInterval == .milliseconds(250))
    }
}
