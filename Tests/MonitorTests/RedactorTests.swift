import Monitor
import Testing

/// The command lines of real programs, as operators type them, with what
/// `--redact` must show of each.
@Suite struct RedactorTests {
    static let cases: [(typed: [String], shown: [String])] = [
        (["mysql", "-uroot", "-pS3cret!", "shop"], ["mysql", "-uroot", "-p***", "shop"]),
        (
            ["/usr/bin/mariadb", "--password=S3cret!", "-e", "select 1"],
            ["/usr/bin/mariadb", "--password=***", "-e", "select 1"]
        ),
        (["mysqldump", "--password", "S3cret!", "shop"], ["mysqldump", "--password", "***", "shop"]),
        (
            ["curl", "-H", "Authorization: Bearer eyJhbGciOi", "https://api.example.com/v1"],
            ["curl", "-H", "Authorization: ***", "https://api.example.com/v1"]
        ),
        (
            ["curl", "--header=X-Api-Key: abc123", "-u", "alice:pw1", "http://h/"],
            ["curl", "--header=X-Api-Key: ***", "-u", "alice:***", "http://h/"]
        ),
        (
            ["curl", "-H", "Accept: application/json", "http://h/"],
            ["curl", "-H", "Accept: application/json", "http://h/"]
        ),
        (
            ["git", "clone", "https://bob:ghp_tok3n@github.com/org/repo.git"],
            ["git", "clone", "https://bob:***@github.com/org/repo.git"]
        ),
        (["psql", "postgresql://app:pw@db:5432/shop"], ["psql", "postgresql://app:***@db:5432/shop"]),
        (
            ["docker", "run", "-e", "DB_PASSWORD=hunter2", "-e", "TZ=UTC", "img"],
            ["docker", "run", "-e", "DB_PASSWORD=***", "-e", "TZ=UTC", "img"]
        ),
        (
            ["env", "AWS_SECRET_ACCESS_KEY=wJalr", "aws", "s3", "ls"],
            ["env", "AWS_SECRET_ACCESS_KEY=***", "aws", "s3", "ls"]
        ),
        (["vault", "login", "--token=s.abc"], ["vault", "login", "--token=***"]),
        (["app", "--api-key", "k-123", "--client-secret=zz"], ["app", "--api-key", "***", "--client-secret=***"]),
        // Not secrets: a flag that says where the secret comes from, and words that only look alike.
        (["docker", "login", "-u", "bob", "--password-stdin"], ["docker", "login", "-u", "bob", "--password-stdin"]),
        (
            ["git", "commit", "--author=Bob <b@x>", "-m", "auth fix"],
            ["git", "commit", "--author=Bob <b@x>", "-m", "auth fix"]
        ),
        (["app", "--token-file", "/run/secrets/t"], ["app", "--token-file", "/run/secrets/t"]),
        (["ssh", "-p", "2222", "host"], ["ssh", "-p", "2222", "host"]),
        (["sudo", "-u", "postgres", "psql"], ["sudo", "-u", "postgres", "psql"]),
        // A shell's script: each command of it by the same rules.
        (
            [
                "/bin/sh", "-c",
                "mariadb -uroot -pS3c -e 'select 1'; curl -s -H 'Authorization: Bearer t0k en' http://h/ && echo -pX",
            ],
            [
                "/bin/sh", "-c",
                "mariadb -uroot -p*** -e 'select 1'; curl -s -H 'Authorization: ***' http://h/ && echo -pX",
            ]
        ),
        (
            ["bash", "-c", "DB_PASSWORD=hunter2 ./migrate --token \"abc\"\ngit push https://u:pw@h/r"],
            ["bash", "-c", "DB_PASSWORD=*** ./migrate --token \"***\"\ngit push https://u:***@h/r"]
        ),
    ]

    @Test(arguments: cases.indices)
    func commandLines(_ index: Int) {
        let (typed, shown) = Self.cases[index]
        let masked = Redactor().argv(typed.map { Array($0.utf8) }).map { String(decoding: $0, as: UTF8.self) }
        #expect(masked == shown)
    }

    @Test func paths() {
        let redactor = Redactor()
        let path = Array("/srv/mirror/https:/u:pw@host/x".utf8)
        #expect(redactor.text(path) == path, "no scheme separator: left alone")
        #expect(
            redactor.text(Array("/tmp/ftp://anon:mail@ftp.example/f".utf8))
                == Array("/tmp/ftp://anon:***@ftp.example/f".utf8))
        #expect(redactor.text(Array("/etc/passwd".utf8)) == Array("/etc/passwd".utf8))
        #expect(
            redactor.text(Array("get http://h/ https://a:b@h/x ftp://c:d@e".utf8))
                == Array("get http://h/ https://a:***@h/x ftp://c:***@e".utf8))
    }

    /// Every output behind the sink gets the masked values: events, summaries, the summary's processes.
    @Test func sinkMasksEventsAndSummaries() {
        let stream = MemoryStream()
        let sink = RedactingSink(JSONSink(stream: stream))
        let argv = ["mysql", "-pS3cret!", "shop"].map { Array($0.utf8) }
        var exec = ProcessRecord(
            time: 0, command: 1, pid: 10, tid: 10, ppid: 1, comm: Array("mysql".utf8), action: .exec)
        exec.path = Array("/usr/bin/mysql".utf8)
        exec.argv = argv
        sink.emit(.process(exec))
        var summary = CommandSummary(
            command: 1, pid: 10, argv: argv, termination: .exited(0), start: 0, end: 1,
            processes: [.init(pid: 10, ppid: 1, comm: Array("mysql".utf8), argv: argv, termination: .exited(0))],
            threads: 1, lostEvents: 0)
        summary.files.created = [Array("/tmp/https://u:pw@h/x".utf8)]
        sink.emit(.summary(summary))
        sink.flush()
        let output = stream.text
        #expect(!output.contains("S3cret!") && !output.contains(":pw@"), "\(output)")
        #expect(output.contains("-p***") && output.contains("u:***@h"), "\(output)")
    }
}
