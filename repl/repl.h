/*
 * repl.h: what the parts of the ember executable share: the REPL loop
 * (repl.c), TAB completion (complete.c), and main.c's command line.
 */
#ifndef REPL_REPL_H
#define REPL_REPL_H

#include "vm/vm.h"

/* Runs the interactive loop on a terminal, or stdin as a script (no
 * prompts) when stdin is not a terminal.  Returns 0, or 1 when the stdin
 * script failed. */
int repl_run(lua_State *L);

/* Installs the readline completion hooks for state L (complete.c). */
void repl_complete_init(lua_State *L);

#endif
