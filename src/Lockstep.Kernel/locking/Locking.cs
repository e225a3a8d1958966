using System.Runtime.CompilerServices;
using System.Text;
using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>kernel/locking: the lock calls and lockdep's maps (KERNEL-FACTS §4.1, §4.4).</summary>
public static partial class Api
{
    // ---- locks (§4.1): the call names the mode, the lock's declared type decides the semantics ----
    // A patch that changes a lock's declaration (a spinlock_t made raw, an rwlock_t made a spinlock_t, a spinlock_t made
    // a mutex) changes nothing else: read_lock on a lock now declared spinlock_t takes it as spin_lock would, and the
    // trace names the call the converted code makes.

    public static SimTask raw_spin_lock(KernelLock lk, [CallerMemberName] string site = "") => Lock(lk, shared: false, irq: false, site);

    public static SimTask raw_spin_unlock(KernelLock lk, [CallerMemberName] string site = "") => Unlock(lk, shared: false, irq: false, site);

    public static SimTask spin_lock(KernelLock lk, [CallerMemberName] string site = "") => Lock(lk, shared: false, irq: false, site);

    public static SimTask spin_unlock(KernelLock lk, [CallerMemberName] string site = "") => Unlock(lk, shared: false, irq: false, site);

    public static SimTask spin_lock_irq(KernelLock lk, [CallerMemberName] string site = "") => Lock(lk, shared: false, irq: true, site);

    public static SimTask spin_unlock_irq(KernelLock lk, [CallerMemberName] string site = "") => Unlock(lk, shared: false, irq: true, site);

    public static SimTask read_lock(KernelLock lk, [CallerMemberName] string site = "") => Lock(lk, shared: true, irq: false, site);

    public static SimTask write_lock(KernelLock lk, [CallerMemberName] string site = "") => Lock(lk, shared: false, irq: false, site);

    public static SimTask read_lock_irq(KernelLock lk, [CallerMemberName] string site = "") => Lock(lk, shared: true, irq: true, site);

    public static SimTask write_lock_irq(KernelLock lk, [CallerMemberName] string site = "") => Lock(lk, shared: false, irq: true, site);

    public static SimTask read_unlock(KernelLock lk, [CallerMemberName] string site = "") => Unlock(lk, shared: true, irq: false, site);

    public static SimTask write_unlock(KernelLock lk, [CallerMemberName] string site = "") => Unlock(lk, shared: false, irq: false, site);

    public static SimTask read_unlock_irq(KernelLock lk, [CallerMemberName] string site = "") => Unlock(lk, shared: true, irq: true, site);

    public static SimTask write_unlock_irq(KernelLock lk, [CallerMemberName] string site = "") => Unlock(lk, shared: false, irq: true, site);

    public static SimTask mutex_lock(KernelLock lk, [CallerMemberName] string site = "") => Lock(lk, shared: false, irq: false, site);

    public static SimTask mutex_unlock(KernelLock lk, [CallerMemberName] string site = "") => Unlock(lk, shared: false, irq: false, site);

    public static SimTask down_read(KernelLock sem, [CallerMemberName] string site = "") => Lock(sem, shared: true, irq: false, site);

    public static SimTask up_read(KernelLock sem, [CallerMemberName] string site = "") => Unlock(sem, shared: true, irq: false, site);

    public static SimTask down_write(KernelLock sem, [CallerMemberName] string site = "") => Lock(sem, shared: false, irq: false, site);

    public static SimTask up_write(KernelLock sem, [CallerMemberName] string site = "") => Unlock(sem, shared: false, irq: false, site);

    /// <summary>Shared modes exist only for rwlock_t and rw_semaphore; on any other type a read-side call takes the lock exclusively.</summary>
    private static SimTask Lock(KernelLock lk, bool shared, bool irq, string site) => lk switch
    {
        raw_spinlock_t => RawLock(lk, irq, site),
        spinlock_t => ConfigLock(lk, irq ? "spin_lock_irq" : "spin_lock", read: 0, irq, 48, "rt_spin_lock", site),
        rwlock_t when shared => ConfigLock(lk, irq ? "read_lock_irq" : "read_lock", read: 1, irq, 225, "rt_read_lock", site),
        rwlock_t => ConfigLock(lk, irq ? "write_lock_irq" : "write_lock", read: 0, irq, 241, "rt_write_lock", site),   // Sean's splat: spinlock_rt.c:241
        mutex => SleepingLock(lk, "kernel/locking/mutex.c", 283, "mutex_lock", read: 0, site),
        rw_semaphore when shared => SleepingLock(lk, "kernel/locking/rwsem.c", 1524, "down_read", read: 1, site),
        rw_semaphore => SleepingLock(lk, "kernel/locking/rwsem.c", 1577, "down_write", read: 0, site),
        _ => throw new ArgumentException($"{lk.Name} is a {lk.GetType().Name}, not a lock type the model knows"),
    };

    private static SimTask Unlock(KernelLock lk, bool shared, bool irq, string site) => lk switch
    {
        raw_spinlock_t => RawUnlock(lk, irq, site),
        spinlock_t => ConfigUnlock(lk, irq ? "spin_unlock_irq" : "spin_unlock", shared: false, irq, site),
        rwlock_t when shared => ConfigUnlock(lk, irq ? "read_unlock_irq" : "read_unlock", shared: true, irq, site),
        rwlock_t => ConfigUnlock(lk, irq ? "write_unlock_irq" : "write_unlock", shared: false, irq, site),
        mutex => SleepingUnlock(lk, "mutex_unlock", shared: false, site),
        rw_semaphore => SleepingUnlock(lk, shared ? "up_read" : "up_write", shared, site),
        _ => throw new ArgumentException($"{lk.Name} is a {lk.GetType().Name}, not a lock type the model knows"),
    };

    /// <summary>raw_spinlock_t: spins with preemption (and for _irq, IRQs) disabled on every kernel.</summary>
    private static async SimTask RawLock(KernelLock lk, bool irq, string site)
    {
        var t = current;
        if (irq) t.irqs_disabled = true;
        t.preempt_count++;
        t.Kernel.Lockdep.Acquire(t, lk.Class, lk, 0, false, site);
        if (t.Tracing) LockOp(t, irq ? "raw_spin_lock_irq" : "raw_spin_lock", lk, LockMode.Write, LockOutcome.Acquired);
        await lk.LockExclusive();
    }

    private static async SimTask RawUnlock(KernelLock lk, bool irq, string site)
    {
        var t = current;
        t.Kernel.Lockdep.Release(t, lk.Class, lk, site);
        if (t.Tracing) LockOp(t, irq ? "raw_spin_unlock_irq" : "raw_spin_unlock", lk, LockMode.Write, LockOutcome.Released);
        await lk.UnlockExclusive();
        t.preempt_count--;
        if (irq) t.irqs_disabled = false;
    }

    /// <summary>raw_spin_trylock, or spin_trylock on a lock declared raw.</summary>
    public static async SimTask<bool> raw_spin_trylock(KernelLock lk, [CallerMemberName] string site = "")
    {
        var t = current;
        t.preempt_count++;
        if (await lk.TryLockExclusive() != 0)
        {
            t.preempt_count--;
            if (t.Tracing) LockOp(t, "raw_spin_trylock", lk, LockMode.Write, LockOutcome.TrylockFailed);
            return false;
        }
        if (t.Tracing) LockOp(t, "raw_spin_trylock", lk, LockMode.Write, LockOutcome.TrylockSucceeded);
        t.Kernel.Lockdep.Acquire(t, lk.Class, lk, 0, true, site);
        return true;
    }

    /// <summary>
    /// spinlock_t and rwlock_t (lockdep's LD_WAIT_CONFIG locks). !RT: IRQs off for _irq, preempt_disable, lockdep, spin.
    /// RT (kernel/locking/spinlock_rt.c): lockdep, rtlock_might_resched, block on the rtmutex, then rcu_read_lock and
    /// migrate_disable; _irq does not disable IRQs.
    /// </summary>
    private static async SimTask ConfigLock(KernelLock lk, string function, int read, bool irq, int rtLine, string rtFunction, string site)
    {
        var t = current;
        if (t.Tracing) LockOp(t, function, lk, read == 0 ? LockMode.Write : LockMode.Read, LockOutcome.Acquired);
        if (t.Kernel.Config.PREEMPT_RT)
        {
            t.Kernel.Lockdep.Acquire(t, lk.Class, lk, read, false, site);
            rtlock_might_resched(t, "kernel/locking/spinlock_rt.c", rtLine, rtFunction, lk.Class);
            await (read == 0 ? lk.LockExclusive() : lk.LockShared());
            RtLockHeld(t);
        }
        else
        {
            if (irq) t.irqs_disabled = true;
            t.preempt_count++;
            t.Kernel.Lockdep.Acquire(t, lk.Class, lk, read, false, site);
            await (read == 0 ? lk.LockExclusive() : lk.LockShared());
        }
    }

    private static async SimTask ConfigUnlock(KernelLock lk, string function, bool shared, bool irq, string site)
    {
        var t = current;
        t.Kernel.Lockdep.Release(t, lk.Class, lk, site);
        if (t.Tracing) LockOp(t, function, lk, shared ? LockMode.Read : LockMode.Write, LockOutcome.Released);
        await (shared ? lk.UnlockShared() : lk.UnlockExclusive());
        if (t.Kernel.Config.PREEMPT_RT) RtLockReleased(t);
        else
        {
            t.preempt_count--;
            if (irq) t.irqs_disabled = false;
        }
    }

    /// <summary>What holding an RT spinlock_t or rwlock_t means for the task (spinlock_rt.c): rcu_read_lock and migrate_disable.</summary>
    private static void RtLockHeld(TaskStruct t)
    {
        RcuReadLock(t);
        t.migration_disabled++;
    }

    private static void RtLockReleased(TaskStruct t)
    {
        t.migration_disabled--;
        RcuReadUnlock(t);
    }

    /// <summary>rtlock_might_resched: __might_resched with the RCU nesting of the RT locks already held as allowance.</summary>
    private static void rtlock_might_resched(TaskStruct t, string file, int line, string function, LockClass taking)
    {
        var depth = t.Kernel.Config.PreemptRcu ? t.rcu_read_lock_nesting : 0;
        __might_resched(t, file, line, depth << MIGHT_RESCHED_RCU_SHIFT, taking, [function]);
    }

    public static async SimTask<bool> mutex_trylock(KernelLock lk, [CallerMemberName] string site = "")
    {
        var t = current;
        if (await lk.TryLockExclusive() != 0)
        {
            if (t.Tracing) LockOp(t, "mutex_trylock", lk, LockMode.Write, LockOutcome.TrylockFailed);
            return false;
        }
        if (t.Tracing) LockOp(t, "mutex_trylock", lk, LockMode.Write, LockOutcome.TrylockSucceeded);
        t.Kernel.Lockdep.Acquire(t, lk.Class, lk, 0, true, site);
        return true;
    }

    public static async SimTask<bool> down_read_trylock(KernelLock sem, [CallerMemberName] string site = "")
    {
        var t = current;
        var shared = sem is rw_semaphore;
        var mode = shared ? LockMode.Read : LockMode.Write;
        var before = await (shared ? sem.TryLockShared() : sem.TryLockExclusive());
        if (shared ? before < 0 : before != 0)
        {
            if (t.Tracing) LockOp(t, "down_read_trylock", sem, mode, LockOutcome.TrylockFailed);
            return false;
        }
        if (t.Tracing) LockOp(t, "down_read_trylock", sem, mode, LockOutcome.TrylockSucceeded);
        t.Kernel.Lockdep.Acquire(t, sem.Class, sem, shared ? 1 : 0, true, site);
        return true;
    }

    /// <summary>A sleeping lock on every kernel: might_sleep at the function's site, lockdep, then block until it is free.</summary>
    private static async SimTask SleepingLock(KernelLock lk, string file, int line, string function, int read, string site)
    {
        var t = current;
        __might_resched(t, file, line, 0, lk.Class, ["__might_sleep", function]);
        t.Kernel.Lockdep.Acquire(t, lk.Class, lk, read, false, site);
        if (t.Tracing) LockOp(t, function, lk, read == 0 ? LockMode.Write : LockMode.Read, LockOutcome.Acquired);
        await (read == 0 ? lk.LockExclusive() : lk.LockShared());
    }

    private static async SimTask SleepingUnlock(KernelLock lk, string function, bool shared, string site)
    {
        var t = current;
        t.Kernel.Lockdep.Release(t, lk.Class, lk, site);
        if (t.Tracing) LockOp(t, function, lk, shared ? LockMode.Read : LockMode.Write, LockOutcome.Released);
        await (shared ? lk.UnlockShared() : lk.UnlockExclusive());
    }

    private static void LockOp(TaskStruct t, string call, KernelLock lk, LockMode mode, LockOutcome outcome)
        => Sim.Emit(new LockOperation(call, lk.Name, mode, outcome, t.stack.Count));

    // ---- lockdep maps (pseudo-locks) ----

    // Each records its LockOperation (named by the map's class) before lockdep looks at it, so that a report lockdep
    // makes sits on the operation.

    public static void lock_map_acquire(LockdepMap map, [CallerMemberName] string site = "")
    {
        var t = current;
        if (t.Tracing) MapOp(t, "lock_map_acquire", map, LockMode.Write, LockOutcome.Acquired);
        t.Kernel.Lockdep.Acquire(t, map.Class, map, 0, false, site);
    }

    public static void lock_map_acquire_read(LockdepMap map, [CallerMemberName] string site = "")
    {
        var t = current;
        if (t.Tracing) MapOp(t, "lock_map_acquire_read", map, LockMode.Read, LockOutcome.Acquired);
        t.Kernel.Lockdep.Acquire(t, map.Class, map, 2, false, site);
    }

    public static void lock_map_release(LockdepMap map, [CallerMemberName] string site = "")
    {
        var t = current;
        if (t.Tracing) MapOp(t, "lock_map_release", map, LockMode.Write, LockOutcome.Released);
        t.Kernel.Lockdep.Release(t, map.Class, map, site);
    }

    /// <summary>lock_sync: an exclusive acquisition that is validated and released at once (§4.5).</summary>
    public static void lock_map_sync(LockdepMap map, [CallerMemberName] string site = "")
    {
        var t = current;
        if (t.Tracing) MapOp(t, "lock_map_sync", map, LockMode.Write, LockOutcome.Synced);
        t.Kernel.Lockdep.Acquire(t, map.Class, map, 0, false, site, sync: true);
    }

    private static void MapOp(TaskStruct t, string call, LockdepMap map, LockMode mode, LockOutcome outcome)
        => Sim.Emit(new LockOperation(call, map.Class.Name, mode, outcome, t.stack.Count));

    public static void lockdep_assert_held(KernelLock lk)
    {
        var t = current;
        if (t.Kernel.Config.PROVE_LOCKING && !t.held_locks.Any(h => ReferenceEquals(h.Instance, lk)))
            Sim.Report(KernelLog.Warning("assert-held", $"WARNING: lockdep_assert_held({lk.Name}) failed", lk.Name));
    }
}
