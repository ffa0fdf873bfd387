/*
 * poolpipe: a loop thread and N worker threads; a worker completes a request
 * by writing one byte to the loop's self-pipe, and the loop, which reads all
 * the bytes there at once, writes the answer. The design is in pool.h.
 *
 *   poolpipe --unix PATH|--tcp PORT --dir DIR [--workers N]   (N: 4)
 *
 * Protocol and common behaviour: daemon.h.
 */
#include "pool.h"

int main(int argc, char **argv) {
    return pool_main(argc, argv, WAKE_PIPE, "poolpipe --unix PATH|--tcp PORT --dir DIR [--workers N]");
}
