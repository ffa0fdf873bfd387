/// The commands not yet summarised, by number, and the kernel's tags for them.
///
/// The kernel tags the work daemons do for a command with the command's tag:
/// the pid of its first process for the commands user space starts or finds
/// at attach, a tag the fork probe makes for the commands the `--pid` root
/// forks (told in the fork record). No tag names two commands.
struct CommandRegistry {
    private var states: [Int: CommandState] = [:]
    private var byTag: [Int32: Int] = [:]
    /// The number the next command started with `start` gets.
    private var next: Int

    init(firstNumber: Int) { next = firstNumber }

    /// An open command. Changed in place through this subscript: a copy of a
    /// command would copy its ledgers on the next change.
    subscript(number: Int) -> CommandState? {
        get { states[number] }
        _modify { yield &states[number] }
    }

    /// The open command a kernel tag names.
    func number(tag: Int32) -> Int? {
        guard let number = byTag[tag], states[number] != nil else { return nil }
        return number
    }

    /// Open command numbers, in ascending order.
    var numbers: [Int] { states.keys.sorted() }

    /// Some command's own processes have ended while daemon work for it goes on.
    var waitingForDaemons: Bool { states.values.contains { $0.ownEnded != nil } }

    /// Starts the next command, led by `leader` and tagged `tag`, and returns its number.
    mutating func start(
        leader: Int32, tag: Int32, ktime: UInt64, lostAtStart: UInt64, unattributedAtStart: UInt64
    ) -> Int {
        let number = next
        next += 1
        open(
            number, leader: leader, tag: tag, ktime: ktime, lostAtStart: lostAtStart,
            unattributedAtStart: unattributedAtStart)
        return number
    }

    /// Opens command `number`, led by `leader` and tagged `tag`, unless it is open.
    mutating func open(
        _ number: Int, leader: Int32, tag: Int32, ktime: UInt64, lostAtStart: UInt64, unattributedAtStart: UInt64
    ) {
        guard states[number] == nil else { return }
        states[number] = CommandState(
            leader: leader, tag: tag, start: ktime, lostAtStart: lostAtStart,
            unattributedAtStart: unattributedAtStart)
        byTag[tag] = number
    }

    /// Closes command `number` and returns its state.
    mutating func remove(_ number: Int) -> CommandState? {
        guard let state = states.removeValue(forKey: number) else { return nil }
        if byTag[state.tag] == number { byTag[state.tag] = nil }
        return state
    }

    /// Whether command `number` is over at `ktime`: no process of it is alive
    /// and no daemon worked for it. When only its own processes have ended,
    /// notes when, and it waits for the daemon work.
    mutating func isOver(_ number: Int, at ktime: UInt64) -> Bool {
        guard let command = states[number] else { return false }
        if command.live == 0 && command.daemons.isEmpty { return true }
        if command.ownLive == 0 && command.ownEnded == nil { states[number]?.ownEnded = ktime }
        return false
    }

    /// Commands, in ascending order, whose wait for daemon work is over at
    /// `ktime`: the processes daemons forked for them exited and the daemons
    /// have been quiet for `quiet`, or their own processes ended `grace` ago.
    func doneWaiting(at ktime: UInt64, quiet: UInt64, grace: UInt64) -> [Int] {
        numbers.filter { number in
            guard let command = states[number], let ended = command.ownEnded, ktime > ended else { return false }
            let silent = command.live == 0 && ktime - max(ended, command.lastDaemonWork) >= quiet
            return silent || ktime - ended >= grace
        }
    }
}
