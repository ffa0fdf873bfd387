/*
 * BCC runs LLVM's -O3 module pipeline over the IR that clang has already
 * optimized (BPFModule::run_pass_manager, through LLVM's legacy pass manager
 * up to LLVM 14). Over the monitor's 24,000 instructions that second
 * pipeline cost about 0.5 s of the start, and clang's -O2 pipeline followed
 * by no second one was 0.35 s faster to ready than clang's -O1 followed by
 * BCC's -O3 (BPFModule.compilerFlags). The verifier passes the result as
 * fast.
 *
 * This replacement of llvm::PassManagerBuilder::populateModulePassManager
 * adds no passes, so BCC's pass manager runs only the two inliners BCC adds
 * itself. Nothing else in the monitor uses the legacy builder: clang's own
 * pipeline is the new pass manager's, and so is BCC's second pipeline with
 * LLVM 15 and later, where this replacement is never called. The symbol is
 * exported from the executable by a linker flag (Package.swift), since no
 * library on the link line defines it.
 */
#include "CBCCHooks.h"

void _ZN4llvm18PassManagerBuilder25populateModulePassManagerERNS_6legacy15PassManagerBaseE(void *builder, void *passes)
{
	(void)builder;
	(void)passes;
}

int bcc_hooks_passes_linked(void) { return 1; }
