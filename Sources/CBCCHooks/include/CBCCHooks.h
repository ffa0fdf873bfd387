#ifndef CBCCHOOKS_H
#define CBCCHOOKS_H

/*
 * Functions that libbcc calls, in libbcc and in LLVM, that the monitor
 * replaces with its own by defining them in the executable, which the
 * dynamic linker searches first (libbcc calls them through its PLT or its
 * vtables). See frontend.c, kallsyms.c, maps.c and passes.c.
 */

#include <stddef.h>

/* 1: kallsyms.c's replacement is linked in. Calling it keeps it in the link. */
int bcc_hooks_linked(void);


/*
 * Two processes that compile the two parts share their maps over socket
 * (maps.c). The first to reach its maps, at the end of its compile, claims
 * *claim (a word both processes map, 0 until claimed) and creates them;
 * the other takes the maps it lends instead of creating its own. Socket -1
 * ends the sharing: BCC creates its maps again, and the lent ones are
 * closed (the modules that took them hold duplicates).
 */
void bcc_hooks_share_maps(int socket, int *claim);

/* 1: this process created the shared maps, and must lend them (bcc_hooks_lend_map). */
int bcc_hooks_lends_maps(void);

/* 1: this process was to borrow the maps, and the other process ended or failed before it lent them. */
int bcc_hooks_lender_failed(void);

/* Sends one map, its name and fd, over the socket; fd -1 sends the end mark. 0 or -errno. */
int bcc_hooks_lend_map(int socket, const char *name, int fd);

/*
 * The text BCC's first pass is to hand on in the next compiles on this
 * thread, or NULL for BCC's own pass (frontend.c). It must stay valid until
 * it is cleared.
 */
void bcc_hooks_program_text(const char *text, size_t length);

/* 1: passes.c's replacement is linked in. Calling it keeps it in the link. */
int bcc_hooks_passes_linked(void);

#endif
