/*
 * The notifier-like protocol of bench/Lockstep.Bench/SharedPrograms.cs (Notifier), one statement per scheduling
 * point of the Lockstep model: NI invalidators and NF faults of a secondary MMU around one lock.
 *   invalidator: lock; count++; unlock; lock; zap; unlock; gen++; lock; seq++; count--; unlock
 *   fault:       read seq; read gen; lock; if count == 0 && seq unchanged: map gen; unlock
 * At the end a mapping, if any, must hold the current gen. -DPLANTED plants the bug: the fault skips the count check.
 * Exhaustive check (what `dotnet run -c Release --project bench/Lockstep.Bench -- spin` runs):
 *   spin -DNI=2 -DNF=3 [-DPLANTED] -a notifier.pml && cc -O2 -DSAFETY -o pan pan.c && ./pan
 */
#ifndef NI
#define NI 1
#endif
#ifndef NF
#define NF 1
#endif

byte lk;             /* mmu_lock: 1 held */
byte count;          /* invalidations in progress */
byte seq;            /* invalidations completed */
byte gen;            /* generation of the page the primary mapping points at */
short mapped = -1;   /* the gen the secondary MMU maps, -1: none */

inline acquire() { atomic { lk == 0 -> lk = 1 } }
inline release() { lk = 0 }

proctype Invalidate()
{
    acquire(); count++; release();
    acquire(); mapped = -1; release();
    gen++;
    acquire(); seq++; count--; release()
}

inline map_if_unchanged()
{
    t = seq;
    if
    :: t == s -> mapped = g
    :: else -> skip
    fi
}

proctype Fault()
{
    byte s, g, c, t;
    s = seq;
    g = gen;
    acquire();
#ifdef PLANTED
    map_if_unchanged();
#else
    c = count;
    if
    :: c == 0 -> map_if_unchanged()
    :: else -> skip
    fi;
#endif
    release()
}

init
{
    byte i;
    atomic {
        do
        :: i < NI -> run Invalidate(); i++
        :: else -> break
        od;
        i = 0;
        do
        :: i < NF -> run Fault(); i++
        :: else -> break
        od
    }
    (_nr_pr == 1);
    assert(mapped == -1 || mapped == gen)
}
