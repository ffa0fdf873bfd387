/// The processes alive in the model, by pid, with their threads.
struct ProcessTree {
    private var processes: [Int32: LiveProcess] = [:]

    subscript(pid: Int32) -> LiveProcess? { processes[pid] }

    var isEmpty: Bool { processes.isEmpty }
    var count: Int { processes.count }
    /// Pids in ascending order.
    var pids: [Int32] { processes.keys.sorted() }

    /// Adds `process`, or puts back one taken out with `remove`.
    mutating func add(_ pid: Int32, _ process: LiveProcess) { processes[pid] = process }

    /// Takes the process out. A caller that changes it and puts it back changes
    /// its descriptor table in place, without a copy.
    @discardableResult
    mutating func remove(_ pid: Int32) -> LiveProcess? { processes.removeValue(forKey: pid) }

    mutating func update(_ pid: Int32, _ change: (inout LiveProcess) -> Void) {
        guard let index = processes.index(forKey: pid) else { return }
        change(&processes.values[index])
    }

    mutating func addThread(_ tid: Int32, to pid: Int32) { processes[pid]?.threads.insert(tid) }
    mutating func removeThread(_ tid: Int32, of pid: Int32) { processes[pid]?.threads.remove(tid) }

    /// Takes out every process of `command`, and returns their threads.
    mutating func removeAll(ofCommand command: Int) -> [Int32] {
        var threads: [Int32] = []
        for (pid, process) in processes where process.command == command {
            threads += Array(process.threads)
            processes[pid] = nil
        }
        return threads
    }

    /// Applies `change` to the descriptor table of every process in the tree.
    mutating func updateFiles(_ change: (inout FileTable) -> Void) {
        for index in processes.values.indices { change(&processes.values[index].files) }
    }
}
