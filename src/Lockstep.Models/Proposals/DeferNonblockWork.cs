using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;
using static Lockstep.Kernel.workqueue_struct;

namespace Lockstep.Models.Proposals;

/// <summary>
/// The Mar 4 2026 direction: for !blockable ranges, defer the heavy part (everything that takes mmu_lock or may sleep
/// on RT) to a workqueue, start and end in order on one worker. Two readings: start returns 0 at once, or -EAGAIN.
/// </summary>
public sealed class DeferNonblockWork : KvmMain
{
    /// <summary>
    /// Its oom-reap-vs-exit run stops at a list-corruption BUG, and every other task's step is raced against that stop:
    /// DPOR needs 225,535 executions (~47 M steps) to cover it, so its runs get 100,000,000 steps (DPOR 80 M), which an
    /// exhaustive run never spends.
    /// </summary>
    public static readonly Proposal ReturnZero = new("defer-nonblock-work", "!blockable: queue the work, start returns 0",
        "shaikh kamaluddin, Mar 4 2026 (KERNEL-FACTS §5 #4)")
    { Kvm = m => new DeferNonblockWork(m, -0), StepBudget = 100_000_000 };

    /// <summary>
    /// Every reaper attempt fails, so an execution is ~570 steps (ten attempts, each with its compensating end and the
    /// deferred work) and the schedules are far too many to explore: its runs are bounded at 2,000,000 steps (DPOR
    /// 1,600,000, then PCT), where all its findings show up within the first few thousand executions.
    /// </summary>
    public static readonly Proposal ReturnEagain = new("defer-nonblock-work-eagain", "!blockable: queue the work, start returns -EAGAIN",
        "shaikh kamaluddin, Mar 4 2026 (KERNEL-FACTS §5 #4)")
    { Kvm = m => new DeferNonblockWork(m, -Mm.EAGAIN), StepBudget = 2_000_000 };

    private readonly int _startReturns;

    /// <summary>The module's workqueue, allocated at init (alloc_workqueue("kvm-mn", ...)).</summary>
    private readonly workqueue_struct kvm_mn_wq;

    private DeferNonblockWork(Mm mm, int startReturns) : base(mm)
    {
        _startReturns = startReturns;
        kvm_mn_wq = new workqueue_struct(kernel, "kvm-mn");
    }

    public override async SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        if (!range.mmu_notifier_range_blockable())
        {
            await queue_work(kvm_mn_wq, new work_struct("kvm_mn_deferred_start", () => base.kvm_mmu_notifier_invalidate_range_start(mn, Blockable(range))));
            return _startReturns;
        }
        return await base.kvm_mmu_notifier_invalidate_range_start(mn, range);
    }

    public override async SimTask kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
    {
        if (!range.mmu_notifier_range_blockable())
        {
            await queue_work(kvm_mn_wq, new work_struct("kvm_mn_deferred_end", () => base.kvm_mmu_notifier_invalidate_range_end(mn, Blockable(range))));
            return;
        }
        await base.kvm_mmu_notifier_invalidate_range_end(mn, range);
    }

    /// <summary>The worker runs in a context that may block.</summary>
    private static mmu_notifier_range Blockable(mmu_notifier_range r)
        => mmu_notifier_range.mmu_notifier_range_init(r.@event, mmu_notifier_range.MMU_NOTIFIER_RANGE_BLOCKABLE, r.mm, r.start, r.end);
}
