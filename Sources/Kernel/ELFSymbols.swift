import CBCC
import Glibc

/// Where functions start in an ELF executable, as file offsets, which is what
/// a uprobe is attached at. All the names are looked up in one pass over the
/// symbol table: `bcc_resolve_symname` reads the whole table for each name,
/// and dockerd's holds about 70,000 functions (about 15 ms a pass here).
public enum ELFSymbols {
    /// The file offset of each of `names` that `path` defines as a function.
    public static func offsets(of names: [String], in path: String) -> [String: UInt64] {
        let search = Search(names)
        var option = bcc_symbol_option(
            use_debug_file: 0, check_debug_file_crc: 0, lazy_symbolize: 1,
            use_symbol_type: UInt32(1 << 2))  // STT_FUNC
        let visit: bcc_elf_symcb = { name, address, _, payload in
            let search = Unmanaged<Search>.fromOpaque(payload!).takeUnretainedValue()
            guard let name else { return 0 }
            for index in search.names.indices where search.addresses[index] == nil {
                if strcmp(name, search.names[index]) == 0 {
                    search.addresses[index] = address
                    search.left -= 1
                }
            }
            return search.left == 0 ? -1 : 0  // negative: every name found, stop
        }
        let payload = Unmanaged.passUnretained(search).toOpaque()
        guard withExtendedLifetime(search, { bcc_elf_foreach_sym(path, visit, &option, payload) }) == 0 else {
            return [:]
        }
        var offsets: [String: UInt64] = [:]
        for (index, address) in search.addresses.enumerated() {
            if let address, let offset = fileOffset(of: address, in: path) { offsets[names[index]] = offset }
        }
        return offsets
    }

    /// The offset in the file of a virtual address, through the loadable segment that holds it.
    private static func fileOffset(of address: UInt64, in path: String) -> UInt64? {
        var place = (address: address, offset: UInt64?.none)
        let visit: bcc_elf_load_sectioncb = { start, size, fileOffset, payload in
            let place = payload!.assumingMemoryBound(to: (address: UInt64, offset: UInt64?).self)
            guard place.pointee.address >= start, place.pointee.address < start + size else { return 0 }
            place.pointee.offset = place.pointee.address - start + fileOffset
            return -1
        }
        _ = bcc_elf_foreach_load_section(path, visit, &place)
        return place.offset
    }

    private final class Search {
        let names: [UnsafeMutablePointer<CChar>]
        var addresses: [UInt64?]
        var left: Int

        init(_ names: [String]) {
            self.names = names.map { strdup($0)! }
            addresses = Array(repeating: nil, count: names.count)
            left = names.count
        }

        deinit { names.forEach { free($0) } }
    }
}
