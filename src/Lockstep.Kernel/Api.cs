using System.Runtime.CompilerServices;
using System.Text;
using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>
/// The kernel API as model code calls it: <c>using static Lockstep.Kernel.Api;</c> then
/// <c>await spin_lock(kvm.mn_invalidate_lock);</c>. Lock and check semantics follow KERNEL-FACTS §4.
/// </summary>
public static class Api
{
    public const int SOFTIRQ_DISABLE_OFFSET = 0x200;
    private const int MIGHT_RESCHED_RCU_SHIFT = 8;
    private const int MIGHT_RESCHED_PREEMPT_MASK = (1 << MIGHT_RESCHED_RCU_SHIFT) - 1;

    /// <summary>The running task.</summary>
    public static TaskStruct current => (TaskStruct)(Sim.CurrentThread.Tag ?? throw new InvalidOperationException("the running thread is not a kernel task"));

    private static KernelConfig Config => current.Kernel.Config;

    private static Lockdep lockdep => current.Kernel.Lockdep;

    private static string Caller(TaskStruct t) => t.stack.Count > 0 ? t.stack[^1] : t.comm;

    // ---- preemption, IRQs, non_block (§4.2, §4.3) ----

    // The public functions are what model code calls: they record a ContextChange when tracing. The lock functions
    // change the same state through the private ones, as part of their own LockOperation.

    public static void preempt_disable()
    {
        var t = current;
        t.preempt_count++;
        if (Sim.Tracing) Context(t, "preempt_disable", ContextSection.Preempt, opens: true, t.preempt_count & 0xff);
    }

    public static void preempt_enable()
    {
        var t = current;
        t.preempt_count--;
        if (Sim.Tracing) Context(t, "preempt_enable", ContextSection.Preempt, opens: false, t.preempt_count & 0xff);
    }

    public static void local_irq_disable()
    {
        var t = current;
        t.irqs_disabled = true;
        if (Sim.Tracing) Context(t, "local_irq_disable", ContextSection.Irq, opens: true, 1);
    }

    public static void local_irq_enable()
    {
        var t = current;
        t.irqs_disabled = false;
        if (Sim.Tracing) Context(t, "local_irq_enable", ContextSection.Irq, opens: false, 0);
    }

    /// <summary>On !RT adds SOFTIRQ_DISABLE_OFFSET to the preempt count; on RT it is a per-CPU local lock (no atomic context).</summary>
    public static void local_bh_disable()
    {
        var t = current;
        t.softirq_disable_cnt++;
        if (!Config.PREEMPT_RT) t.preempt_count += SOFTIRQ_DISABLE_OFFSET;
        if (Sim.Tracing) Context(t, "local_bh_disable", ContextSection.BottomHalf, opens: true, t.softirq_disable_cnt);
    }

    public static void local_bh_enable()
    {
        var t = current;
        t.softirq_disable_cnt--;
        if (!Config.PREEMPT_RT) t.preempt_count -= SOFTIRQ_DISABLE_OFFSET;
        if (Sim.Tracing) Context(t, "local_bh_enable", ContextSection.BottomHalf, opens: false, t.softirq_disable_cnt);
    }

    public static void non_block_start()
    {
        var t = current;
        t.non_block_count++;
        if (Sim.Tracing) Context(t, "non_block_start", ContextSection.NonBlock, opens: true, t.non_block_count);
    }

    public static void non_block_end()
    {
        var t = current;
        if (t.non_block_count == 0)
        {
            if (Sim.Tracing) Context(t, "non_block_end", ContextSection.NonBlock, opens: false, 0);
            Sim.Report(KernelLog.Warning("non-block-underflow", "WARNING: non_block_end() without non_block_start()", "non_block_end"));
            return;
        }
        t.non_block_count--;
        if (Sim.Tracing) Context(t, "non_block_end", ContextSection.NonBlock, opens: false, t.non_block_count);
    }

    public static void migrate_disable()
    {
        var t = current;
        t.migration_disabled++;
        if (Sim.Tracing) Context(t, "migrate_disable", ContextSection.Migrate, opens: true, t.migration_disabled);
    }

    public static void migrate_enable()
    {
        var t = current;
        t.migration_disabled--;
        if (Sim.Tracing) Context(t, "migrate_enable", ContextSection.Migrate, opens: false, t.migration_disabled);
    }

    private static void Context(TaskStruct t, string call, ContextSection section, bool opens, int count)
        => Sim.Emit(new ContextChange(call, section, opens, count, t.stack.Count));

    // ---- might_sleep (§4.2) ----

    public static void might_sleep([CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
        => __might_resched(KernelSource(file), line, 0, "__might_sleep");

    /// <summary>
    /// kernel/sched/core.c __might_resched: silent iff preempt_count + (rcu depth &lt;&lt; 8) == offsets, IRQs on and
    /// non_block_count == 0; else the splat of §4.2 (property S2).
    /// </summary>
    public static void __might_resched(string file, int line, int offsets, params string[] innermost)
    {
        var t = current;
        if (!Config.DEBUG_ATOMIC_SLEEP) return;
        var rcuDepth = Config.PreemptRcu ? t.rcu_read_lock_nesting : 0;
        if (t.preempt_count + (rcuDepth << MIGHT_RESCHED_RCU_SHIFT) == offsets && !t.irqs_disabled && t.non_block_count == 0)
            return;
        var sb = new StringBuilder();
        sb.AppendLine($"BUG: sleeping function called from invalid context at {file}:{line}");
        sb.AppendLine($"in_atomic(): {(t.in_atomic() ? 1 : 0)}, irqs_disabled(): {(t.irqs_disabled ? 1 : 0)}, non_block: {t.non_block_count}, pid: {t.pid}, name: {t.comm}");
        sb.AppendLine($"preempt_count: {t.preempt_count:x}, expected: {offsets & MIGHT_RESCHED_PREEMPT_MASK:x}");
        if (Config.PreemptRcu)
            sb.AppendLine($"RCU nest depth: {rcuDepth}, expected: {offsets >> MIGHT_RESCHED_RCU_SHIFT}");
        if (Config.PROVE_LOCKING) t.Kernel.Lockdep.HeldLocks(sb, t);
        sb.AppendLine(KernelLog.Banner(t));
        var frames = new List<string> { "__might_resched" };
        frames.AddRange(innermost);
        KernelLog.CallTrace(sb, t, frames.ToArray());
        Kernel.State.TaintWarn = true;
        var culprit = innermost.Length > 0 ? innermost[^1] : "might_sleep";
        Sim.Report(new KernelReport("might-sleep", $"BUG: sleeping function called from invalid context at {file}:{line}",
            sb.ToString(), t.ToString(), $"{culprit} in {Caller(t)}", Config));
    }

    /// <summary>schedule_debug: a voluntary sleep in atomic or non-blocking context (§4.3).</summary>
    private static void schedule_debug()
    {
        var t = current;
        if (t.in_atomic())
            ScheduleBug($"BUG: scheduling while atomic: {t.comm}/{t.pid}/0x{t.preempt_count:x8}", "scheduling-while-atomic");
        else if (t.non_block_count != 0 && Config.DEBUG_ATOMIC_SLEEP)
            ScheduleBug($"BUG: scheduling in a non-blocking section: {t.comm}/{t.pid}/{t.non_block_count}", "scheduling-in-non-block");
    }

    private static void ScheduleBug(string headline, string kind)
    {
        var t = current;
        var sb = new StringBuilder();
        sb.AppendLine(headline);
        if (Config.PROVE_LOCKING) t.Kernel.Lockdep.HeldLocks(sb, t);
        sb.AppendLine(KernelLog.Banner(t));
        KernelLog.CallTrace(sb, t, "__schedule_bug", "__schedule", "schedule");
        Kernel.State.TaintWarn = true;
        Sim.Report(new KernelReport(kind, headline, sb.ToString(), t.ToString(), Caller(t), Config));
    }

    private static string KernelSource(string path)
    {
        var i = path.Replace('\\', '/').LastIndexOf("/src/Lockstep.", StringComparison.Ordinal);
        return i < 0 ? Path.GetFileName(path) : path[(i + 5)..];
    }

    // ---- task state and sleeping (§4.6) ----

    public static Op<int> set_current_state(int state) => current.__state.Write(state);

    public static Op<int> __set_current_state(int state) => current.__state.Write(state);

    /// <summary>Sleeps until the task state is TASK_RUNNING again (a wakeup that came first makes it return at once).</summary>
    public static async SimTask schedule()
    {
        schedule_debug();
        await current.__state.WaitUntil(static s => s == TaskState.TASK_RUNNING);
    }

    /// <summary>A timed sleep: the model has no clock, so time passing is a yield to everyone else.</summary>
    public static async SimTask schedule_timeout_idle(int ticks)
    {
        schedule_debug();
        await Sim.Yield();
    }

    public static async SimTask<bool> wake_up_process(TaskStruct p)
        => await p.__state.Update(static _ => TaskState.TASK_RUNNING) != TaskState.TASK_RUNNING;

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
        lockdep.Acquire(t, lk.Class, lk, 0, false, site);
        if (Sim.Tracing) LockOp(t, irq ? "raw_spin_lock_irq" : "raw_spin_lock", lk, LockMode.Write, LockOutcome.Acquired);
        await lk.LockExclusive();
    }

    private static async SimTask RawUnlock(KernelLock lk, bool irq, string site)
    {
        var t = current;
        lockdep.Release(t, lk.Class, lk, site);
        if (Sim.Tracing) LockOp(t, irq ? "raw_spin_unlock_irq" : "raw_spin_unlock", lk, LockMode.Write, LockOutcome.Released);
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
            if (Sim.Tracing) LockOp(t, "raw_spin_trylock", lk, LockMode.Write, LockOutcome.TrylockFailed);
            return false;
        }
        if (Sim.Tracing) LockOp(t, "raw_spin_trylock", lk, LockMode.Write, LockOutcome.TrylockSucceeded);
        lockdep.Acquire(t, lk.Class, lk, 0, true, site);
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
        if (Sim.Tracing) LockOp(t, function, lk, read == 0 ? LockMode.Write : LockMode.Read, LockOutcome.Acquired);
        if (Config.PREEMPT_RT)
        {
            lockdep.Acquire(t, lk.Class, lk, read, false, site);
            rtlock_might_resched("kernel/locking/spinlock_rt.c", rtLine, rtFunction);
            await (read == 0 ? lk.LockExclusive() : lk.LockShared());
            RcuReadLock(t);
            t.migration_disabled++;
        }
        else
        {
            if (irq) t.irqs_disabled = true;
            t.preempt_count++;
            lockdep.Acquire(t, lk.Class, lk, read, false, site);
            await (read == 0 ? lk.LockExclusive() : lk.LockShared());
        }
    }

    private static async SimTask ConfigUnlock(KernelLock lk, string function, bool shared, bool irq, string site)
    {
        var t = current;
        lockdep.Release(t, lk.Class, lk, site);
        if (Sim.Tracing) LockOp(t, function, lk, shared ? LockMode.Read : LockMode.Write, LockOutcome.Released);
        await (shared ? lk.UnlockShared() : lk.UnlockExclusive());
        if (Config.PREEMPT_RT)
        {
            t.migration_disabled--;
            RcuReadUnlock(t);
        }
        else
        {
            t.preempt_count--;
            if (irq) t.irqs_disabled = false;
        }
    }

    /// <summary>rtlock_might_resched: __might_resched with the RCU nesting of the RT locks already held as allowance.</summary>
    private static void rtlock_might_resched(string file, int line, string function)
    {
        var depth = Config.PreemptRcu ? current.rcu_read_lock_nesting : 0;
        __might_resched(file, line, depth << MIGHT_RESCHED_RCU_SHIFT, function);
    }

    public static async SimTask<bool> mutex_trylock(KernelLock lk, [CallerMemberName] string site = "")
    {
        var t = current;
        if (await lk.TryLockExclusive() != 0)
        {
            if (Sim.Tracing) LockOp(t, "mutex_trylock", lk, LockMode.Write, LockOutcome.TrylockFailed);
            return false;
        }
        if (Sim.Tracing) LockOp(t, "mutex_trylock", lk, LockMode.Write, LockOutcome.TrylockSucceeded);
        lockdep.Acquire(t, lk.Class, lk, 0, true, site);
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
            if (Sim.Tracing) LockOp(t, "down_read_trylock", sem, mode, LockOutcome.TrylockFailed);
            return false;
        }
        if (Sim.Tracing) LockOp(t, "down_read_trylock", sem, mode, LockOutcome.TrylockSucceeded);
        lockdep.Acquire(t, sem.Class, sem, shared ? 1 : 0, true, site);
        return true;
    }

    /// <summary>A sleeping lock on every kernel: might_sleep at the function's site, lockdep, then block until it is free.</summary>
    private static async SimTask SleepingLock(KernelLock lk, string file, int line, string function, int read, string site)
    {
        __might_resched(file, line, 0, "__might_sleep", function);
        var t = current;
        lockdep.Acquire(t, lk.Class, lk, read, false, site);
        if (Sim.Tracing) LockOp(t, function, lk, read == 0 ? LockMode.Write : LockMode.Read, LockOutcome.Acquired);
        await (read == 0 ? lk.LockExclusive() : lk.LockShared());
    }

    private static async SimTask SleepingUnlock(KernelLock lk, string function, bool shared, string site)
    {
        var t = current;
        lockdep.Release(t, lk.Class, lk, site);
        if (Sim.Tracing) LockOp(t, function, lk, shared ? LockMode.Read : LockMode.Write, LockOutcome.Released);
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
        if (Sim.Tracing) MapOp(t, "lock_map_acquire", map, LockMode.Write, LockOutcome.Acquired);
        lockdep.Acquire(t, map.Class, map, 0, false, site);
    }

    public static void lock_map_acquire_read(LockdepMap map, [CallerMemberName] string site = "")
    {
        var t = current;
        if (Sim.Tracing) MapOp(t, "lock_map_acquire_read", map, LockMode.Read, LockOutcome.Acquired);
        lockdep.Acquire(t, map.Class, map, 2, false, site);
    }

    public static void lock_map_release(LockdepMap map, [CallerMemberName] string site = "")
    {
        var t = current;
        if (Sim.Tracing) MapOp(t, "lock_map_release", map, LockMode.Write, LockOutcome.Released);
        lockdep.Release(t, map.Class, map, site);
    }

    /// <summary>lock_sync: an exclusive acquisition that is validated and released at once (§4.5).</summary>
    public static void lock_map_sync(LockdepMap map, [CallerMemberName] string site = "")
    {
        var t = current;
        if (Sim.Tracing) MapOp(t, "lock_map_sync", map, LockMode.Write, LockOutcome.Synced);
        lockdep.Acquire(t, map.Class, map, 0, false, site, sync: true);
    }

    private static void MapOp(TaskStruct t, string call, LockdepMap map, LockMode mode, LockOutcome outcome)
        => Sim.Emit(new LockOperation(call, map.Class.Name, mode, outcome, t.stack.Count));

    public static void lockdep_assert_held(KernelLock lk)
    {
        if (current.Kernel.Config.PROVE_LOCKING && !current.held_locks.Any(h => ReferenceEquals(h.Instance, lk)))
            Sim.Report(KernelLog.Warning("assert-held", $"WARNING: lockdep_assert_held({lk.Name}) failed", lk.Name));
    }

    // ---- RCU ----

    /// <summary>With PREEMPT_RCU a nesting count; without it, preempt_disable (§4.1). Not a scheduling point.</summary>
    public static void rcu_read_lock()
    {
        var t = current;
        RcuReadLock(t);
        if (Sim.Tracing) Context(t, "rcu_read_lock", ContextSection.Rcu, opens: true, RcuDepth(t));
    }

    public static void rcu_read_unlock()
    {
        var t = current;
        RcuReadUnlock(t);
        if (Sim.Tracing) Context(t, "rcu_read_unlock", ContextSection.Rcu, opens: false, RcuDepth(t));
    }

    private static void RcuReadLock(TaskStruct t)
    {
        if (t.Kernel.Config.PreemptRcu) t.rcu_read_lock_nesting++;
        else t.preempt_count++;
    }

    private static void RcuReadUnlock(TaskStruct t)
    {
        if (t.Kernel.Config.PreemptRcu) t.rcu_read_lock_nesting--;
        else t.preempt_count--;
    }

    /// <summary>The RCU read-side nesting: rcu_read_lock_nesting with PREEMPT_RCU, else the preemption count it raised.</summary>
    private static int RcuDepth(TaskStruct t) => t.Kernel.Config.PreemptRcu ? t.rcu_read_lock_nesting : t.preempt_count & 0xff;

    /// <summary>A grace period: might_sleep, then time passes. Model readers never block, so no one is waited for.</summary>
    public static async SimTask synchronize_rcu()
    {
        using var fn = KernelFunction.Enter();
        might_sleep();
        await Sim.Yield();
    }
}
