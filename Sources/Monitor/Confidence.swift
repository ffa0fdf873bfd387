/// How sure the tracker is that work was done for a command: daemon work
/// that may have been another client's is ambiguous, and its file changes are
/// kept apart.
enum Confidence {
    case certain, ambiguous
}
