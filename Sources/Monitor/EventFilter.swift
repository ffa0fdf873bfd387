/// Which records reach the output: the detail levels an operator picks,
/// in the manner of `strace -e`. It only ever removes event lines; summaries,
/// lost lines and status objects always pass, so a filtered trace still says
/// what the command did in total and whether it may be incomplete.
public struct EventFilter: Equatable, Sendable {
    /// The event classes `--only` names, each matching one output `category`.
    public enum Class: String, CaseIterable, Sendable {
        case files, net, proc

        /// Accepts the short and the long name: `files`/`file`, `net`/`network`, `proc`/`process`.
        public init?(name: String) {
            switch name.lowercased() {
            case "files", "file": self = .files
            case "net", "network": self = .net
            case "proc", "process": self = .proc
            default: return nil
            }
        }

        /// Parses a comma-separated list such as `files,net`; fails on the first unknown name.
        public static func parse(_ list: String) -> Result<Set<Class>, UnknownClass> {
            var classes = Set<Class>()
            for entry in list.split(separator: ",", omittingEmptySubsequences: false) {
                let name = String(entry.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
                guard let known = Class(name: name) else { return .failure(UnknownClass(name: name)) }
                classes.insert(known)
            }
            return .success(classes)
        }
    }

    /// A name `--only` does not know.
    public struct UnknownClass: Error, Equatable {
        public var name: String
    }

    /// No event lines at all.
    public var summaryOnly = false
    /// Event classes shown; nil shows all.
    public var classes: Set<Class>? = nil
    /// Only events that change the state of the system (see `isChange`).
    public var changesOnly = false

    public init(summaryOnly: Bool = false, classes: Set<Class>? = nil, changesOnly: Bool = false) {
        self.summaryOnly = summaryOnly
        self.classes = classes
        self.changesOnly = changesOnly
    }

    /// Shows everything: the default, whose output the filter leaves untouched.
    public var isEverything: Bool { self == EventFilter() }

    public func passes(_ record: Record) -> Bool {
        switch record {
        case .summary, .lost, .status:
            return true
        case .process:
            // Every process event is a change: a process or thread began, became another program, or ended.
            return !summaryOnly && classes?.contains(.proc) != false
        case .activity(let event):
            return !summaryOnly && classes?.contains(Self.eventClass(event.category)) != false
                && (!changesOnly || Self.isChange(event))
        }
    }

    static func eventClass(_ category: ActivityRecord.Category) -> Class {
        switch category {
        case .file: return .files
        case .network: return .net
        case .process: return .proc
        }
    }

    /// A call that succeeded and changed something another process could see:
    /// file content, names or attributes, a mount, a connection or listener,
    /// a signal delivered, or a daemon reached (`peer`). Reads, sends and
    /// receives move data but change no state; opening a socket or closing
    /// an fd changes only the caller's own descriptor table. Nothing done to
    /// `/dev/null` counts either: it is where shells send what they discard.
    public static func isChange(_ event: ActivityRecord) -> Bool {
        guard event.error == nil, event.path.map({ $0.elementsEqual("/dev/null".utf8) }) != true else { return false }
        switch event.action {
        case .create, .write, .truncate, .unlink, .rmdir, .mkdir, .mknod, .rename, .link, .symlink,
            .chmod, .chown, .utime, .xattr, .mount, .umount,
            .connect, .bind, .listen, .accept, .peer, .signal:
            return true
        case .open:
            return opensToTruncate(event.flags)
        case .read, .socket, .send, .recv, .close:
            return false
        }
    }

    /// An open with O_TRUNC for writing replaces the file's content, even
    /// before anything is written. Opens that create a file are `create`.
    static func opensToTruncate(_ flags: String?) -> Bool {
        guard let names = flags?.split(separator: "|"), let access = names.first else { return false }
        return access != "O_RDONLY" && names.contains("O_TRUNC") && !names.contains("O_PATH")
    }
}
