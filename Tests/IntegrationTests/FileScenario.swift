import Testing

/// A set-up step and a script, both run by `/bin/sh` in the directory: the script
/// under the monitor as `sh -c SCRIPT sh DIR FIXTURE`, starting with `cd "$1"`
/// (a chdir the monitor must follow), with the compiled Fixtures/files.c in `$F`.
struct FileScenario: Sendable, CustomTestStringConvertible {
    let name: String
    let setup: String
    let script: String

    var testDescription: String { name }

    /// Every kind of file operation the summary and the stream report, in one
    /// run. Files made before the monitor starts exercise modified, deleted,
    /// metadata and renamed.
    static let everyOperation = FileScenario(
        name: "every operation",
        setup: #"""
            printf 'one\ntwo\n' > pre_sed.txt
            printf 'first\n' > pre_append.txt
            printf 'old content\n' > pre_overwrite.txt
            printf 'rename me\n' > pre_rename.txt
            printf 'mode\n' > pre_chmod.txt
            printf 'delete me\n' > pre_delete.txt
            printf 'read me\n' > pre_read.txt
            printf '0123456789abcdefghij' > pre_truncate.txt
            mkdir pre_dir
            printf 'hostile\n' > "$(printf 'pre\n\033[1mhostile')"
            """#,
        script: #"""
            printf 'new file\n' > created.txt
            printf 'appended\n' >> pre_append.txt
            printf 'replaced' > pre_overwrite.txt
            mv pre_rename.txt renamed.txt
            chmod 600 pre_chmod.txt
            rm pre_delete.txt
            mkdir -p a/b/c
            rmdir a/b/c
            rmdir pre_dir
            ln -s created.txt symlink
            ln created.txt hardlink
            cd a/b
            printf 'relative\n' > relative.txt
            cd ../..
            "$F" dupftruncate pre_truncate.txt 10
            printf 'scratch' > temp.txt
            rm temp.txt
            sed -i 's/one/ONE/' pre_sed.txt
            head -c 12345 /dev/zero > zeros.bin
            "$F" chunks chunks.bin 1000 2345 9000
            cat pre_read.txt > /dev/null
            cat missing.txt 2> /dev/null || true
            printf 'hostile\n' > "$(printf 'new\nline\033[31mred')"
            mv "$(printf 'pre\n\033[1mhostile')" "$(printf 'moved\t\033[2J\377')"
            """#)

    /// Checked against a snapshot (besides `everyOperation`): groups of common
    /// operations, then single cases that each need one thing done right.
    static let snapshotChecked: [FileScenario] = [
        FileScenario(
            name: "renames",
            setup: #"""
                printf 'a\n' > chain1
                printf 'b\n' > edit1
                printf 'c\n' > held1
                mkdir -p dir1/sub
                printf 'f\n' > dir1/sub/f
                mkdir here
                printf 'x\n' > far
                """#,
            script: #"""
                mv chain1 chain2
                mv chain2 chain3
                mv edit1 edit2
                printf 'more\n' >> edit2
                exec 3>> held1
                mv held1 held2
                printf 'through the fd\n' >&3
                exec 3>&-
                mv dir1 dir2
                printf 'g\n' >> dir2/sub/f
                cd here
                mv ../far near
                printf 'z\n' > ../made
                cd ..
                printf 'lock\n' > file.lock
                mv file.lock final
                """#),
        FileScenario(
            name: "removals",
            setup: #"""
                mkdir -p gone/sub
                printf '1\n' > gone/f
                printf '2\n' > gone/sub/g
                printf 'a\n' > again
                mkdir samedir
                printf 'h\n' > keep
                ln keep keep2
                """#,
            script: #"""
                rm -r gone
                rm again
                printf 'new\n' > again
                rmdir samedir
                mkdir samedir
                rm keep2
                mkdir -p t/u
                printf 'x\n' > t/u/f
                rm -r t
                """#),
        FileScenario(
            name: "content and attributes",
            setup: #"""
                printf 'a\n' > touched
                printf 'b\n' > truncated
                printf 'c\n' > emptied
                printf 'd\n' > owned
                printf 'e\n' > source
                printf 'f\n' > overwritten
                printf 'g\n' > opened
                printf 'h\n' > chmod_then_written
                """#,
            script: #"""
                touch -m -d @1000000000 touched
                truncate -s 0 truncated
                : > emptied
                chown 1:1 owned
                cp source copy
                cp source overwritten
                exec 3<> opened
                exec 3>&-
                chmod 600 chmod_then_written
                printf 'x\n' >> chmod_then_written
                """#),
        FileScenario(
            name: "descriptors: dup, inherited, subshell",
            setup: #"""
                printf 'a\n' > dup_target
                printf 'b\n' > inherited
                printf 'c\n' > subshell
                printf '0123456789' > truncated_through_dup
                printf '0123456789' > truncated_through_fcntl
                """#,
            script: #"""
                exec 4>> dup_target
                exec 5>&4
                exec 4>&-
                printf 'x\n' >&5
                exec 5>&-
                exec 3>> inherited
                sh -c 'printf "y\n" >&3'
                exec 3>&-
                exec 6>> subshell
                (printf 'z\n' >&6)
                exec 6>&-
                "$F" dupftruncate truncated_through_dup 3
                "$F" fcntldup truncated_through_fcntl 2
                """#),
        FileScenario(
            name: "write through a hard link to a file that existed",
            setup: #"""
                printf 'a\n' > original
                """#,
            script: #"""
                ln original link
                printf 'b\n' >> link
                """#),
        FileScenario(
            name: "write through a symlink to a file that existed",
            setup: #"""
                printf 'a\n' > real
                ln -s real alias
                """#,
            script: #"""
                printf 'b\n' >> alias
                """#),
        FileScenario(
            name: "write through a descriptor after unlink",
            setup: #"""
                printf 'a\n' > doomed
                """#,
            script: #"""
                exec 3>> doomed
                rm doomed
                printf 'b\n' >&3
                exec 3>&-
                """#),
        FileScenario(
            name: "mv onto a file that existed",
            setup: #"""
                printf 'old\n' > target
                """#,
            script: #"""
                printf 'new\n' > source
                mv source target
                """#),
        FileScenario(
            name: "ln -sf over a dangling symlink",
            setup: #"""
                ln -s nowhere link
                """#,
            script: #"""
                ln -sf elsewhere link
                """#),
        FileScenario(
            name: "working directory renamed",
            setup: #"""
                mkdir old
                """#,
            script: #"""
                cd old
                printf 'f\n' > f
                mv ../old ../new
                printf 'g\n' > g
                """#),
        FileScenario(
            name: "'..' after a symlinked directory",
            setup: #"""
                mkdir -p x/y
                ln -s x/y shortcut
                """#,
            script: #"""
                printf 'z\n' > shortcut/../f
                """#),
    ]
}
