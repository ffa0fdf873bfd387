/// Masks secrets that command lines carry, so that a trace kept in a file or
/// sent to a colleague does not hand them on. The value is replaced by `***`;
/// the option or name it belongs to stays, so the command still reads.
///
/// In each argument list:
/// - an option whose name ends in a secret word, with its value attached
///   (`--password=X`, `--api-key=X`) or in the next argument (`--token X`);
///   the words are password, passwd, secret, token, credential(s), auth,
///   apikey, and key after api, access, private or secret;
/// - `NAME=VALUE` where NAME holds a secret word (`DB_PASSWORD=X`, as given to
///   `env` or `docker run -e`);
/// - a header given with `-H` or `--header` whose name is Authorization,
///   Proxy-Authorization, Cookie, Set-Cookie, or holds a secret word
///   (`X-Api-Key`);
/// - the password of `-u`/`--user user:password` (curl, wget);
/// - the attached password of MySQL and MariaDB clients: `-pSECRET`.
///
/// In every argument and every path: the password of a URL
/// (`scheme://user:password@host`). An argument of several words (the script
/// of `sh -c`) goes through the same rules word by word.
public struct Redactor: Sendable {
    public static let mask = Array("***".utf8)

    public init() {}

    public func argv(_ argv: [[UInt8]]) -> [[UInt8]] {
        let mysql = argv.first.map { Self.isMySQLClient($0) } ?? false
        var result: [[UInt8]] = []
        result.reserveCapacity(argv.count)
        var next: ValueRule? = nil
        for (index, argument) in argv.enumerated() {
            if let rule = next {
                next = nil
                result.append(rule.apply(argument))
                continue
            }
            var masked = argument
            if index > 0 && argument.first != UInt8(ascii: "-") && argument.contains(where: Self.isSpace) {
                masked = script(argument)
            } else if index > 0 {
                (masked, next) = Self.option(argument, mysql: mysql)
            }
            result.append(text(masked))
        }
        return result
    }

    /// An argument of several words, such as the script of `sh -c`: its words
    /// through the same rules, each command of it (after `;`, `&&`, `|` or a
    /// newline) on its own. Quotes are kept; a quoted header value that spans
    /// words is masked to its closing quote.
    func script(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var next: ValueRule? = nil
        var position = 0  // of the word in its command
        var mysql = false
        var maskingTo: UInt8? = nil  // the quote that ends a value being masked
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let start = index
            if Self.isSpace(bytes[index]) {
                while index < bytes.endIndex && Self.isSpace(bytes[index]) { index += 1 }
                if bytes[start..<index].contains(UInt8(ascii: "\n")) { position = 0 }
                if maskingTo == nil { output += bytes[start..<index] }
                continue
            }
            while index < bytes.endIndex && !Self.isSpace(bytes[index]) { index += 1 }
            let word = Array(bytes[start..<index])
            if let quote = maskingTo {
                if word.last == quote {
                    maskingTo = nil
                    output.append(quote)
                }
                continue
            }
            let (open, inner, close) = Self.unquoted(word)
            var masked = inner
            if let rule = next {
                next = nil
                masked = rule.apply(inner)
                if rule == .header && masked != inner && !open.isEmpty && close.isEmpty { maskingTo = open.first }
            } else if position == 0 && inner.contains(UInt8(ascii: "=")) {
                masked = Self.option(inner, mysql: false).0  // NAME=VALUE before the command
                position -= 1
            } else if position == 0 {
                mysql = Self.isMySQLClient(inner)
            } else {
                (masked, next) = Self.option(inner, mysql: mysql)
            }
            output += open + masked + (maskingTo == nil ? close : [])
            position += 1
            if [";", "&&", "||", "|"].contains(where: { word.elementsEqual($0.utf8) }) || word.last == UInt8(ascii: ";")
            {
                position = 0
                next = nil
            }
        }
        return output
    }

    /// A word without the quotes around it: (opening quote, the rest, closing quote).
    static func unquoted(_ word: [UInt8]) -> ([UInt8], [UInt8], [UInt8]) {
        let quotes: Set<UInt8> = [UInt8(ascii: "'"), UInt8(ascii: "\"")]
        var inner = word[...]
        var open: [UInt8] = [], close: [UInt8] = []
        if let first = inner.first, quotes.contains(first) {
            open = [first]
            inner = inner.dropFirst()
        }
        if let last = inner.last, quotes.contains(last) || last == UInt8(ascii: ";") {
            close = [last]
            inner = inner.dropLast()
        }
        return (open, Array(inner), close)
    }

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
    }

    /// Whether `text` returns `bytes` as they are, known without a copy: a URL's password needs a colon.
    public func leaves(_ bytes: [UInt8]?) -> Bool {
        guard let bytes else { return true }
        return !bytes.contains(UInt8(ascii: ":"))
    }

    /// A path or other text: the password of every URL in it.
    public func text(_ bytes: [UInt8]) -> [UInt8] {
        // Most paths hold no colon: one scan, no copy (this runs on every event's path).
        guard !leaves(bytes) else { return bytes }
        var output: [UInt8] = []
        var rest = bytes[...]
        while let scheme = Self.find(Array("://".utf8), in: rest) {
            let start = scheme + 3
            let end = rest[start...].firstIndex { $0 == UInt8(ascii: "/") || Self.isSpace($0) } ?? rest.endIndex
            if let at = rest[start..<end].lastIndex(of: UInt8(ascii: "@")),
                let colon = rest[start..<at].firstIndex(of: UInt8(ascii: ":"))
            {
                output += rest[...colon] + Self.mask
                rest = rest[at...]
            } else {
                output += rest[..<start]
                rest = rest[start...]
            }
        }
        return output + rest
    }

    /// What the next argument holds, when an option takes it.
    enum ValueRule: Equatable {
        case whole, afterColon, header

        func apply(_ argument: [UInt8]) -> [UInt8] {
            switch self {
            case .whole: return Redactor.mask
            case .afterColon:
                guard let colon = argument.firstIndex(of: UInt8(ascii: ":")) else { return argument }
                return Array(argument[...colon]) + Redactor.mask
            case .header: return Redactor.header(argument)
            }
        }
    }

    /// One argument after the program's name: masked as it stands, and the rule for the next one.
    static func option(_ argument: [UInt8], mysql: Bool) -> ([UInt8], ValueRule?) {
        let dash = UInt8(ascii: "-")
        if argument.first == dash {
            let name = argument.drop { $0 == dash }
            if let equals = name.firstIndex(of: UInt8(ascii: "=")) {
                let key = Array(name[..<equals])
                if Self.endsInSecretWord(key) { return (Array(argument[...equals]) + mask, nil) }
                if key.elementsEqual("header".utf8) {
                    return (Array(argument[...equals]) + header(Array(name[(equals + 1)...])), nil)
                }
                if key.elementsEqual("user".utf8) {
                    return (Array(argument[...equals]) + ValueRule.afterColon.apply(Array(name[(equals + 1)...])), nil)
                }
                return (argument, nil)
            }
            if argument.count == 2 {
                switch argument[1] {
                case UInt8(ascii: "H"): return (argument, .header)
                case UInt8(ascii: "u"): return (argument, .afterColon)
                default: return (argument, nil)
                }
            }
            if mysql && argument.count > 2 && argument[1] == UInt8(ascii: "p") {
                return (Array(argument.prefix(2)) + mask, nil)
            }
            if argument.starts(with: "--".utf8) {
                let key = Array(name)
                if key.elementsEqual("header".utf8) { return (argument, .header) }
                if key.elementsEqual("user".utf8) { return (argument, .afterColon) }
                if Self.endsInSecretWord(key) && !key.starts(with: "no-".utf8) { return (argument, .whole) }
            }
            return (argument, nil)
        }
        if let equals = argument.firstIndex(of: UInt8(ascii: "=")), equals > 0,
            Self.holdsSecretWord(Array(argument[..<equals]))
        {
            return (Array(argument[...equals]) + mask, nil)
        }
        return (argument, nil)
    }

    /// `Name: value`, with the value masked when the name is a credential's.
    static func header(_ value: [UInt8]) -> [UInt8] {
        guard let colon = value.firstIndex(of: UInt8(ascii: ":")) else { return value }
        let name = String(decoding: value[..<colon], as: UTF8.self).lowercased()
        let credentials: Set = ["authorization", "proxy-authorization", "cookie", "set-cookie"]
        guard credentials.contains(name) || holdsSecretWord(Array(name.utf8)) else { return value }
        return Array(value[...colon]) + Array(" ".utf8) + mask
    }

    static let secretWords: Set = [
        "password", "passwd", "secret", "token", "credential", "credentials", "auth", "apikey",
    ]
    static let keyQualifiers: Set = ["api", "access", "private", "secret"]

    /// The words of a name, split at `-`, `_` and `.`, in lower case.
    static func words(_ name: [UInt8]) -> [String] {
        String(decoding: name, as: UTF8.self).lowercased()
            .split { $0 == "-" || $0 == "_" || $0 == "." }.map(String.init)
    }

    /// `--password`, `--api-key`, `--auth-token`; not `--password-stdin`, `--token-file` or `--author`.
    static func endsInSecretWord(_ name: [UInt8]) -> Bool {
        let words = words(name)
        guard let last = words.last else { return false }
        if secretWords.contains(last) { return true }
        return last == "key" && words.count > 1 && keyQualifiers.contains(words[words.count - 2])
    }

    /// `DB_PASSWORD`, `GITHUB_TOKEN`, `X-Api-Key`, `AWS_SECRET_ACCESS_KEY`.
    static func holdsSecretWord(_ name: [UInt8]) -> Bool {
        let words = words(name)
        for (index, word) in words.enumerated() {
            if secretWords.contains(word) { return true }
            if word == "key" && index > 0 && keyQualifiers.contains(words[index - 1]) { return true }
        }
        return false
    }

    static func isMySQLClient(_ program: [UInt8]) -> Bool {
        let name = program.lastIndex(of: UInt8(ascii: "/")).map { Array(program[($0 + 1)...]) } ?? program
        return name.starts(with: "mysql".utf8) || name.starts(with: "mariadb".utf8)
    }

    static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (haystack.startIndex...(haystack.endIndex - needle.count)).first {
            haystack[$0..<($0 + needle.count)].elementsEqual(needle)
        }
    }
}
