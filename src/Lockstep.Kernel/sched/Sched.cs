using System.Runtime.CompilerServices;
using System.Text;
using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>kernel/sched (core.c, might_sleep, schedule) and the preemption, IRQ and non_block state (KERNEL-FACTS §4.2, §4.3, §4.6).</summary>
public static partial class Api
{
    // ---- preemption, IRQs, non_block (§4.2, §4.3) ----

    // The public functions are what model code calls: they record a ContextChange when tracing. The lock functions
    // change the same state through the private ones, as part of their own LockOperation.

    public static void preempt_disable()
    {
        var t = current;
        t.preempt_count++;
        if (t.Tracing) Context(t, "preempt_disable", ContextSection.Preempt, opens: true, t.preempt_count & 0xff);
    }

    public static void preempt_enable()
    {
        var t = current;
        t.preempt_count--;
        if (t.Tracing) Context(t, "preempt_enable", ContextSection.Preempt, opens: false, t.preempt_count & 0xff);
    }

    public static void local_irq_disable()
    {
        var t = current;
        t.irqs_disabled = true;
        if (t.Tracing) Context(t, "local_irq_disable", ContextSection.Irq, opens: true, 1);
    }

    public static void local_irq_enable()
    {
        var t = current;
        t.irqs_disabled = false;
        if (t.Tracing) Context(t, "local_irq_enable", ContextSection.Irq, opens: false, 0);
    }

    /// <summary>
    /// kernel/softirq.c __local_bh_disable_ip. !RT: SOFTIRQ_DISABLE_OFFSET on the preempt count, an atomic section. RT: the
    /// preempt count is untouched; a preemptible task's first entry takes the per-CPU softirq_ctrl.lock, a local_lock_t
    /// (on RT: migrate_disable, then spin_lock of a spinlock_t, i.e. rt_spin_lock with its rcu_read_lock), then
    /// rcu_read_lock() "to meet the RCU bottomhalf requirements". So a sleep inside splats on both, on RT with RCU nest
    /// depth 2, while a spinlock_t is fine on both. The model has no CPUs: the local lock excludes no one, but lockdep and
    /// the context see it.
    /// </summary>
    public static void local_bh_disable()
    {
        var t = current;
        if (!t.Kernel.Config.PREEMPT_RT) t.preempt_count += SOFTIRQ_DISABLE_OFFSET;
        else if (t.softirq_disable_cnt == 0 && t.preemptible())
        {
            using var fn = KernelFunction.Enter("__local_bh_disable_ip");
            t.migration_disabled++;   // local_lock(&softirq_ctrl.lock): migrate_disable(); spin_lock(this_cpu_ptr(...))
            t.Kernel.Lockdep.Acquire(t, t.Kernel.softirq_ctrl_lock.Class, t.Kernel.softirq_ctrl_lock, 0, false, "__local_bh_disable_ip");
            rtlock_might_resched(t, "kernel/locking/spinlock_rt.c", 48, "rt_spin_lock", t.Kernel.softirq_ctrl_lock.Class);
            RtLockHeld(t);
            RcuReadLock(t);
        }
        t.softirq_disable_cnt++;
        if (t.Tracing) Context(t, "local_bh_disable", ContextSection.BottomHalf, opens: true, t.softirq_disable_cnt);
    }

    /// <summary>__local_bh_enable_ip: the reverse; on RT the last exit of a preemptible task drops rcu_read_lock and the local lock.</summary>
    public static void local_bh_enable()
    {
        var t = current;
        t.softirq_disable_cnt--;
        if (!t.Kernel.Config.PREEMPT_RT) t.preempt_count -= SOFTIRQ_DISABLE_OFFSET;
        else if (t.softirq_disable_cnt == 0 && t.preemptible())
        {
            RcuReadUnlock(t);
            t.Kernel.Lockdep.Release(t, t.Kernel.softirq_ctrl_lock.Class, t.Kernel.softirq_ctrl_lock, "__local_bh_enable_ip");   // local_unlock
            RtLockReleased(t);
            t.migration_disabled--;
        }
        if (t.Tracing) Context(t, "local_bh_enable", ContextSection.BottomHalf, opens: false, t.softirq_disable_cnt);
    }

    public static void non_block_start()
    {
        var t = current;
        t.non_block_count++;
        if (t.Tracing) Context(t, "non_block_start", ContextSection.NonBlock, opens: true, t.non_block_count);
    }

    public static void non_block_end()
    {
        var t = current;
        if (t.non_block_count == 0)
        {
            if (t.Tracing) Context(t, "non_block_end", ContextSection.NonBlock, opens: false, 0);
            Sim.Report(KernelLog.Warning("non-block-underflow", "WARNING: non_block_end() without non_block_start()", "non_block_end"));
            return;
        }
        t.non_block_count--;
        if (t.Tracing) Context(t, "non_block_end", ContextSection.NonBlock, opens: false, t.non_block_count);
    }

    public static void migrate_disable()
    {
        var t = current;
        t.migration_disabled++;
        if (t.Tracing) Context(t, "migrate_disable", ContextSection.Migrate, opens: true, t.migration_disabled);
    }

    public static void migrate_enable()
    {
        var t = current;
        t.migration_disabled--;
        if (t.Tracing) Context(t, "migrate_enable", ContextSection.Migrate, opens: false, t.migration_disabled);
    }

    private static void Context(TaskStruct t, string call, ContextSection section, bool opens, int count)
        => Sim.Emit(new ContextChange(call, section, opens, count, t.stack.Count));

    // ---- might_sleep (§4.2) ----

    public static void might_sleep([CallerFilePath] string file = "", [CallerLineNumber] int line = 0)
    {
        var t = current;
        if (MightReschedSilent(t, 0)) return;   // the source path is only worked out for a splat
        __might_resched(t, KernelSource(file), line, 0, null, ["__might_sleep"]);
    }

    /// <summary>
    /// kernel/sched/core.c __might_resched: silent iff preempt_count + (rcu depth &lt;&lt; 8) == offsets, IRQs on and
    /// non_block_count == 0; else the splat of §4.2 (property S2).
    /// </summary>
    public static void __might_resched(string file, int line, int offsets, params ReadOnlySpan<string> innermost)
        => __might_resched(current, file, line, offsets, null, innermost);

    /// <summary>
    /// __might_resched on the way into a sleeping lock: the report names the lock's class, so that two locks taken in one
    /// function are two findings (the kernel's splat prints the held locks, not the one being taken).
    /// </summary>
    internal static void __might_resched(TaskStruct t, string file, int line, int offsets, LockClass? taking, ReadOnlySpan<string> innermost)
    {
        if (MightReschedSilent(t, offsets)) return;
        var config = t.Kernel.Config;
        var rcuDepth = config.PreemptRcu ? t.rcu_read_lock_nesting : 0;
        var sb = new StringBuilder();
        sb.AppendLine($"BUG: sleeping function called from invalid context at {file}:{line}");
        sb.AppendLine($"in_atomic(): {(t.in_atomic() ? 1 : 0)}, irqs_disabled(): {(t.irqs_disabled ? 1 : 0)}, non_block: {t.non_block_count}, pid: {t.pid}, name: {t.comm}");
        sb.AppendLine($"preempt_count: {t.preempt_count:x}, expected: {offsets & MIGHT_RESCHED_PREEMPT_MASK:x}");
        if (config.PreemptRcu)
            sb.AppendLine($"RCU nest depth: {rcuDepth}, expected: {offsets >> MIGHT_RESCHED_RCU_SHIFT}");
        if (config.PROVE_LOCKING) t.Kernel.Lockdep.HeldLocks(sb, t);
        sb.AppendLine(KernelLog.Banner(t));
        var frames = new List<string> { "__might_resched" };
        frames.AddRange(innermost);
        KernelLog.CallTrace(sb, t, frames.ToArray());
        Kernel.State.TaintWarn = true;
        var culprit = innermost.Length > 0 ? innermost[^1] : "might_sleep";
        Sim.Report(new KernelReport("might-sleep", $"BUG: sleeping function called from invalid context at {file}:{line}",
            sb.ToString(), t.ToString(), taking != null ? $"{culprit}({taking.Name}) in {Caller(t)}" : $"{culprit} in {Caller(t)}", config));
    }

    /// <summary>Whether __might_resched stays silent for <paramref name="t"/> (no DEBUG_ATOMIC_SLEEP, or the context allows sleeping).</summary>
    private static bool MightReschedSilent(TaskStruct t, int offsets)
    {
        var config = t.Kernel.Config;
        if (!config.DEBUG_ATOMIC_SLEEP) return true;
        var rcuDepth = config.PreemptRcu ? t.rcu_read_lock_nesting : 0;
        return t.preempt_count + (rcuDepth << MIGHT_RESCHED_RCU_SHIFT) == offsets && !t.irqs_disabled && t.non_block_count == 0;
    }

    /// <summary>schedule_debug: a voluntary sleep in atomic or non-blocking context (§4.3).</summary>
    private static void schedule_debug()
    {
        var t = current;
        if (t.in_atomic())
            ScheduleBug(t, $"BUG: scheduling while atomic: {t.comm}/{t.pid}/0x{t.preempt_count:x8}", "scheduling-while-atomic");
        else if (t.non_block_count != 0 && t.Kernel.Config.DEBUG_ATOMIC_SLEEP)
            ScheduleBug(t, $"BUG: scheduling in a non-blocking section: {t.comm}/{t.pid}/{t.non_block_count}", "scheduling-in-non-block");
    }

    private static void ScheduleBug(TaskStruct t, string headline, string kind)
    {
        var sb = new StringBuilder();
        sb.AppendLine(headline);
        if (t.Kernel.Config.PROVE_LOCKING) t.Kernel.Lockdep.HeldLocks(sb, t);
        sb.AppendLine(KernelLog.Banner(t));
        KernelLog.CallTrace(sb, t, "__schedule_bug", "__schedule", "schedule");
        Kernel.State.TaintWarn = true;
        Sim.Report(new KernelReport(kind, headline, sb.ToString(), t.ToString(), Caller(t), t.Kernel.Config));
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
}
