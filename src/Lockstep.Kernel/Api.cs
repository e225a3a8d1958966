using System.Runtime.CompilerServices;
using System.Text;
using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>
/// The kernel API as model code calls it: <c>using static Lockstep.Kernel.Api;</c> then
/// <c>await spin_lock(kvm.mn_invalidate_lock);</c>. Lock and check semantics follow KERNEL-FACTS §4. One partial class,
/// a file per kernel directory: sched/ (preemption, IRQs, non_block, might_sleep, sleeping), locking/, rcu/.
/// </summary>
public static partial class Api
{
    public const int SOFTIRQ_DISABLE_OFFSET = 0x200;
    private const int MIGHT_RESCHED_RCU_SHIFT = 8;
    private const int MIGHT_RESCHED_PREEMPT_MASK = (1 << MIGHT_RESCHED_RCU_SHIFT) - 1;

    /// <summary>The running task.</summary>
    public static TaskStruct current => (TaskStruct)(Sim.CurrentThread.Tag ?? throw new InvalidOperationException("the running thread is not a kernel task"));

    private static string Caller(TaskStruct t) => t.stack.Count > 0 ? t.stack[^1] : t.comm;
}
