package chunk

import "syscall"

// oDirect is the open flag for direct I/O: chunk files bypass the page
// cache (see [blocks]).
const oDirect = syscall.O_DIRECT
