/*
 * pooleventfd: a loop thread and N worker threads; a worker completes a
 * request by adding 1 to the loop's eventfd, and the loop writes the answer.
 * Several completions may be merged into one count the loop reads at once.
 * The design is in pool.h.
 *
 *   pooleventfd --unix PATH|--tcp PORT --dir DIR [--workers N]   (N: 4)
 *
 * Protocol and common behaviour: daemon.h.
 */
#include "pool.h"

int main(int argc, char **argv) {
    return pool_main(argc, argv, WAKE_EVENTFD, "pooleventfd --unix PATH|--tcp PORT --dir DIR [--workers N]");
}
