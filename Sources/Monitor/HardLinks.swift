/// Names the command made into one file with link(2): a write through one
/// changes what every other name holds.
struct HardLinks {
    private var others: [[UInt8]: Set<[UInt8]>] = [:]

    func others(of path: [UInt8]) -> [[UInt8]] {
        guard !others.isEmpty else { return [] }
        return others[path].map { Array($0).sorted(by: Paths.precedes) } ?? []
    }

    mutating func link(_ existing: [UInt8], _ new: [UInt8]) {
        let group = (others[existing] ?? []).union([existing])
        for name in group { others[name, default: []].insert(new) }
        others[new] = group
    }

    mutating func remove(_ path: [UInt8]) {
        guard !others.isEmpty else { return }  // most runs make no hard link: no path to hash
        for name in others.removeValue(forKey: path) ?? [] { others[name]?.remove(path) }
    }

    mutating func rename(_ from: [UInt8], _ to: [UInt8]) {
        guard !others.isEmpty else { return }
        remove(to)
        guard let group = others.removeValue(forKey: from) else { return }
        for name in group {
            others[name]?.remove(from)
            others[name]?.insert(to)
        }
        others[to] = group
    }
}
