/*
 * bcryptprimitives.dll for Wine 8: Go >= 1.22 Windows binaries import
 * ProcessPrng from bcryptprimitives.dll, which Wine 8 does not have.
 * This exports ProcessPrng on top of RtlGenRandom (advapi32
 * SystemFunction036). Built by scripts/wine-setup.sh with mingw-w64
 * (Debian package gcc-mingw-w64-x86-64-win32). Test bed only: never ship.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst; (void)reason; (void)reserved;
    return TRUE;
}
