/*
 * bcryptprimitives.dll for wine 8, which lacks ProcessPrng: Rust's standard library (and
 * getrandom) take random bytes from it on Windows 10 and later. This forwards to
 * RtlGenRandom (advapi32's SystemFunction036), which wine has. Used by tests/windows.rs only;
 * Windows itself has the real one.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG len);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
    if (!SystemFunction036(data, chunk)) {
      return FALSE;
    }
    data += chunk;
    len -= chunk;
  }
  return TRUE;
}
