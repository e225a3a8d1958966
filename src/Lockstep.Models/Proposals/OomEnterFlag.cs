using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;

namespace Lockstep.Models.Proposals;

/// <summary>
/// The question of Mar 28 2026 (P4): oom_enter only sets kvm->oom_reaping, and invalidate_range_start/end return
/// early when it is set.
/// </summary>
public sealed class OomEnterFlag : KvmMain, mmu_notifier_oom_enter_op
{
    public static readonly Proposal Proposal = new("oom-enter-flag", "oom_enter sets kvm->oom_reaping; start/end return early",
        "shaikh kamaluddin, Mar 28 2026 (KERNEL-FACTS §5 #9)")
    { Mm = k => new OomEnterInOomKill(k), Kvm = m => new OomEnterFlag(m) };

    public OomEnterFlag(Mm mm) : base(mm) { }

    /// <summary>+	bool oom_reaping; in struct kvm.</summary>
    public static readonly Field<bool> oom_reaping = new("kvm->oom_reaping");

    public async SimTask oom_enter(mmu_notifier mn, mm_struct mm_)
    {
        using var fn = KernelFunction.Enter("kvm_mmu_notifier_oom_enter");
        await (await mmu_notifier_to_kvm(mn)).added.Get(oom_reaping).Write(true);   // + WRITE_ONCE(kvm->oom_reaping, true);
    }

    public override async SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        if (await (await mmu_notifier_to_kvm(mn)).added.Get(oom_reaping).Read()) return 0;   // + if (READ_ONCE(kvm->oom_reaping)) return 0;
        return await base.kvm_mmu_notifier_invalidate_range_start(mn, range);
    }

    public override async SimTask kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
    {
        if (await (await mmu_notifier_to_kvm(mn)).added.Get(oom_reaping).Read()) return;   // + if (READ_ONCE(kvm->oom_reaping)) return;
        await base.kvm_mmu_notifier_invalidate_range_end(mn, range);
    }
}
