// A patch that serialises KVM's invalidations with a new mutex, taken at the top of invalidate_range_start:
//
//   virt/kvm/kvm_main.c
//   +static DEFINE_MUTEX(kvm_mn_start_lock);
//   	static int kvm_mmu_notifier_invalidate_range_start(struct mmu_notifier *mn,
//   					const struct mmu_notifier_range *range)
//   	{
//   +	mutex_lock(&kvm_mn_start_lock);
//   	...
//   +	mutex_unlock(&kvm_mn_start_lock);
//   	return 0;
//
// The OOM reaper's start is non-blockable, so mutex_lock's might_sleep splats on both configs (S2). On RT mainline
// already splats in that function (at mn_invalidate_lock, a sleeping spinlock_t there): compared with mainline, the
// patch's splat is new, mainline's is kept.
//
//   lockstep check --patch examples/start-mutex.csx --config rt --scenario oom-reap-vs-fault --fail-on new

sealed class StartMutex : KvmMain
{
    /// <summary>static DEFINE_MUTEX(kvm_mn_start_lock): one per kernel, made with the module's code.</summary>
    readonly mutex kvm_mn_start_lock;

    public StartMutex(Mm mm) : base(mm) => kvm_mn_start_lock = new mutex(kernel, "kvm_mn_start_lock");

    public override async SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        using (KernelFunction.Enter()) await mutex_lock(kvm_mn_start_lock);   // the hunk at the top of the function
        var ret = await base.kvm_mmu_notifier_invalidate_range_start(mn, range);
        await mutex_unlock(kvm_mn_start_lock);
        return ret;
    }
}

Register(new Proposal("start-mutex", "a new mutex taken at the top of invalidate_range_start", "examples/start-mutex.csx")
{
    Kvm = m => new StartMutex(m),
});
