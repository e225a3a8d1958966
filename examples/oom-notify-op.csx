// A patch that adds an op to struct mmu_notifier_ops and a field to struct kvm:
//
//   include/linux/mmu_notifier.h
//   +	void (*oom_notify)(struct mmu_notifier *subscription, struct mm_struct *mm);
//
//   mm/oom_kill.c: __oom_reap_task_mm
//   +	mmu_notifier_oom_notify(mm);   /* before the first non-blockable invalidation */
//
//   virt/kvm/kvm_main.c
//   +	WRITE_ONCE(kvm->oom_notified, true);              /* kvm_mmu_notifier_oom_notify */
//   	kvm_mmu_notifier_invalidate_range_start:
//   +	if (!mmu_notifier_range_blockable(range) && READ_ONCE(kvm->oom_notified))
//   +		return -EAGAIN;
//
// KVM refuses the reaper's non-blockable starts instead of sleeping. A start that fails while ops has an end breaks
// the notifier contract (S5), and the reaper can never unmap guest RAM (L2): the checker finds both. The reaper
// retries, so executions are long and too many to explore: the proposal sets a step budget of its own (DPOR, then
// PCT), and its cells without a finding are bounded, not proven.
//
//   lockstep check --patch examples/oom-notify-op.csx --scenario oom-reap-vs-fault

/// <summary>The new op: a subscriber that implements this interface has ops->oom_notify != NULL.</summary>
public interface mmu_notifier_oom_notify_op
{
    SimTask oom_notify(mmu_notifier subscription, mm_struct mm);
}

/// <summary>mm/: the walk of the new op (under the global SRCU) and its call from the reaper.</summary>
sealed class MmOomNotify : Mm
{
    public MmOomNotify(Kernel kernel) : base(kernel) { }

    async SimTask mmu_notifier_oom_notify(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        if (!await mm.mm_has_notifiers()) return;
        var id = await srcu_read_lock(srcu);
        await foreach (var subscription in mm.subscriptions().list)
            if (subscription.ops is mmu_notifier_oom_notify_op op)
                await Call(subscription, s => op.oom_notify(s, mm));
        await srcu_read_unlock(srcu, id);
    }

    public override async SimTask<bool> __oom_reap_task_mm(mm_struct mm)
    {
        await mmu_notifier_oom_notify(mm);
        return await base.__oom_reap_task_mm(mm);
    }
}

/// <summary>virt/kvm: the op and the early return it enables.</summary>
sealed class KvmOomNotify : KvmMain, mmu_notifier_oom_notify_op
{
    /// <summary>+	bool oom_notified; in struct kvm.</summary>
    static readonly Field<bool> oom_notified = new("kvm->oom_notified");

    public KvmOomNotify(Mm mm) : base(mm) { }

    public async SimTask oom_notify(mmu_notifier mn, mm_struct mm)
    {
        using var fn = KernelFunction.Enter("kvm_mmu_notifier_oom_notify");
        await (await mmu_notifier_to_kvm(mn)).added.Get(oom_notified).Write(true);
    }

    public override async SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        if (!range.mmu_notifier_range_blockable() && await (await mmu_notifier_to_kvm(mn)).added.Get(oom_notified).Read())
            return -Mm.EAGAIN;
        return await base.kvm_mmu_notifier_invalidate_range_start(mn, range);
    }
}

Register(new Proposal("oom-notify-op", "a new oom_notify op; KVM then fails non-blockable starts with -EAGAIN", "examples/oom-notify-op.csx")
{
    Mm = k => new MmOomNotify(k),
    Kvm = m => new KvmOomNotify(m),
    StepBudget = 2_000_000,
});
