/// Linux signal names, for exit lines and summaries.
public enum Signals {
    private static let names = [
        "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
        "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",
        "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
        "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ]

    public static func name(_ signal: Int32) -> String {
        if signal > 0, Int(signal) < names.count { return names[Int(signal)] }
        if signal >= 34, signal <= 64 { return "SIGRTMIN+\(signal - 34)" }
        return "SIG\(signal)"
    }
}
