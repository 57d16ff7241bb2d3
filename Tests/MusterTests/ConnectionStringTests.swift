import Testing
@testable import MusterPostgres

@Suite struct ConnectionStringTests {
    @Test func urlIsParsedIntoLibpqSettings() throws {
        let parsed = try ConnectionString("postgres://app:s3cret@db.example.com:6543/orders?sslmode=require")
        #expect(parsed.settings["host"] == "db.example.com")
        #expect(parsed.settings["port"] == "6543")
        #expect(parsed.settings["user"] == "app")
        #expect(parsed.settings["dbname"] == "orders")
        #expect(parsed.settings["sslmode"] == "require")
        #expect(parsed.endpoint == "db.example.com:6543")
    }

    @Test func conninfoIsParsed() throws {
        let parsed = try ConnectionString("host=10.0.0.5 port=5433 user=worker password='a b\\'c' dbname=jobs")
        #expect(parsed.settings["host"] == "10.0.0.5")
        #expect(parsed.settings["password"] == "a b'c")
        #expect(parsed.endpoint == "10.0.0.5:5433")
    }

    @Test(arguments: [
        "postgres://app:s3cret@db.example.com:6543/orders",
        "host=db password=s3cret user=app",
        "postgresql://app@db/orders?password=s3cret",
    ])
    func passwordNeverAppearsInDescriptions(_ text: String) throws {
        let parsed = try ConnectionString(text)
        #expect(!parsed.redacted.contains("s3cret"))
        #expect(!parsed.description.contains("s3cret"))
        #expect(!String(reflecting: parsed).contains("s3cret"))
        #expect(parsed.redacted.contains("password=*****"))
    }

    @Test func invalidStringIsAClientError() {
        #expect(throws: PostgresError.self) { try ConnectionString("host=x bogus_option=1") }
        #expect(throws: PostgresError.self) { try ConnectionString("postgres://host/db?bogus_parameter=1") }
    }

    @Test func emptyStringMeansLibpqDefaults() throws {
        let parsed = try ConnectionString("")
        #expect(parsed.settings.isEmpty)
        #expect(parsed.redacted.contains("PG*"))
    }

    @Test func settingAKeyKeepsTheOthersAndQuotes() throws {
        let parsed = try ConnectionString("postgres://app:pw@h:1/db").setting("application_name", to: "my app")
        #expect(parsed.settings["application_name"] == "my app")
        #expect(parsed.settings["password"] == "pw")
        #expect(parsed.settings["port"] == "1")
    }
}

/// libpq's parse errors quote the connection string: none may show its password.
@Suite struct ConnectionStringRedactionTests {
    @Test(arguments: [
        "postgres://app:SuperSecret42@[::1",
        "postgres://app:Super%ZZSecret42@127.0.0.1:5432/demo",
        "postgresql://app:SuperSecret42@db/de%ZZmo",
        "postgres://app:SuperSecret42@h1:5432,[h2/demo",
        "postgres://app@db/demo?password=SuperSecret42&sslmode=bogus&x",
        "postgres://app:SuperSecret42@db/demo?bogus_option=1",
        "host=db password=SuperSecret42 bogus_key=1",
        "host=db password='Super Secret42' 'unterminated",
        "host=db password = SuperSecret42 port",
    ])
    func aMalformedConnectionStringsErrorHidesItsPassword(_ text: String) throws {
        do {
            _ = try ConnectionString(text)
            Issue.record("\(text) parsed; the table needs strings libpq refuses")
        } catch {
            let message = "\(error)"
            #expect(message.contains("invalid connection string"))
            for secret in ["SuperSecret42", "Super%ZZSecret42", "Super Secret42", "Secret42"] {
                #expect(!message.contains(secret), "\(message)")
            }
        }
    }

    @Test func secretsAreFoundRawAndDecodedInEachForm() {
        #expect(Set(ConnectionSecrets.find(in: "postgres://u:p%40ss@h/db")) == ["p%40ss", "p@ss"])
        #expect(ConnectionSecrets.find(in: "host=h password='a b\\'c'").contains("a b'c"))
        #expect(ConnectionSecrets.find(in: "postgres://u@h/db?sslmode=require").isEmpty)
        #expect(ConnectionSecrets.redact("bad: \"x:pw@h\"", secretsOf: "postgres://x:pw@h") == "bad: \"x:*****@h\"")
    }
}
