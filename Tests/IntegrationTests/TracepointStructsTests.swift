import Testing

@testable import Kernel

/// The argument structs written for BCC's first pass, against what BCC 0.26's
/// `ebpf::parse_tracepoint` writes for the same format files (its output,
/// taken from libbcc on Linux 6.18 and for a made-up format, is the expected
/// text below).
@Suite struct TracepointStructsTests {
    static let header = """
        name: ev
        ID: 1
        format:
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
        \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

        """

    @Test func gapsBecomePadBytes() {
        let format =
            Self.header + """
                \tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
                \tfield:__u16 family;\toffset:16;\tsize:2;\tsigned:0;
                \tfield:__u16 protocol;\toffset:18;\tsize:2;\tsigned:0;
                \tfield:unsigned long ip;\toffset:24;\tsize:8;\tsigned:0;

                print fmt: "family=%u protocol=%u func=%ps", REC->family, REC->protocol, (void *)REC->ip

                """
        #expect(
            TracepointStructs.structText(format: format, category: "sock", event: "sk_data_ready") == """
                struct tracepoint__sock__sk_data_ready {
                \tu64 __do_not_use__;
                \tconst void * skaddr;
                \t__u16 family;
                \t__u16 protocol;
                \tchar __pad_20;
                \tchar __pad_21;
                \tchar __pad_22;
                \tchar __pad_23;
                \tunsigned long ip;
                };

                """)
    }

    @Test func dataLocationsBecomeInts() {
        let format =
            Self.header + """
                \tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
                \tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
                \tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;

                """
        #expect(
            TracepointStructs.structText(format: format, category: "sched", event: "sched_process_exec") == """
                struct tracepoint__sched__sched_process_exec {
                \tu64 __do_not_use__;
                \tint data_loc_filename;
                \tpid_t pid;
                \tpid_t old_pid;
                };

                """)
    }

    /// A common field past the first 8 bytes, types widened to their field's size, a flexible array.
    @Test func extraCommonFieldsAndWidenedTypes() {
        let format =
            Self.header + """
                \tfield:unsigned char common_preempt_lazy_count;\toffset:8;\tsize:1;\tsigned:0;

                \tfield:int nr;\toffset:16;\tsize:8;\tsigned:1;
                \tfield:unsigned short port;\toffset:24;\tsize:4;\tsigned:0;
                \tfield:char flag;\toffset:28;\tsize:2;\tsigned:1;
                \tfield:uid_t uid;\toffset:32;\tsize:8;\tsigned:0;
                \tfield:char name[];\toffset:40;\tsize:0;\tsigned:0;

                print fmt: "x"

                """
        let expected =
            "struct tracepoint__cat__ev {\n\tu64 __do_not_use__;\n\tchar __do_not_use__8;\n"
            + (9...15).map { "\tchar __pad_\($0);\n" }.joined()
            + "\ts64 nr;\n\tu32 port;\n\ts16 flag;\n\tchar __pad_30;\n\tchar __pad_31;\n\tu64 uid;\n\tchar name[];\n};\n"
        #expect(TracepointStructs.structText(format: format, category: "cat", event: "ev") == expected)
    }

    /// BCC looks an array length named by an enum up in BTF; this leaves such a format to BCC's own pass.
    @Test func namedArrayLengthIsLeftToBCC() {
        let format = Self.header + "\tfield:char comm[TASK_COMM_LEN];\toffset:8;\tsize:16;\tsigned:0;\n"
        #expect(TracepointStructs.structText(format: format, category: "cat", event: "ev") == nil)
        let text = "TRACEPOINT_PROBE(cat, ev) { return 0; }"
        #expect(TracepointStructs.firstPass(of: text, formats: { _, _ in format }) == nil)
    }

    /// Each struct goes right before its probe, as BCC's rewriter puts it; raw tracepoints,
    /// tracepoints without a format and mentions in comments are left as they are.
    @Test func structsGoBeforeTheirProbes() {
        let format = Self.header + "\tfield:int len;\toffset:8;\tsize:4;\tsigned:1;\n"
        let text = """
            #include "x.h"
            RAW_TRACEPOINT_PROBE(sys_enter) { return 0; }
            // as TRACEPOINT_PROBE(skb, copy) does:
            TRACEPOINT_PROBE(skb, copy) { return args->len; }
            TRACEPOINT_PROBE(none, here) { return 0; }

            """
        let handedOn = TracepointStructs.firstPass(of: text) { category, _ in category == "skb" ? format : nil }
        #expect(
            handedOn == """
                #include "x.h"
                RAW_TRACEPOINT_PROBE(sys_enter) { return 0; }
                // as TRACEPOINT_PROBE(skb, copy) does:
                struct tracepoint__skb__copy {
                \tu64 __do_not_use__;
                \tint len;
                };
                TRACEPOINT_PROBE(skb, copy) { return args->len; }
                TRACEPOINT_PROBE(none, here) { return 0; }

                """)
    }
}
