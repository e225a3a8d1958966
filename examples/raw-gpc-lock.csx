// A patch that changes a lock's declaration: struct gfn_to_pfn_cache's lock becomes a raw_spinlock_t.
//
//   include/linux/kvm_types.h
//   struct gfn_to_pfn_cache {
//   -	rwlock_t lock;
//   +	raw_spinlock_t lock;
//
// The lock calls of virt/kvm/pfncache.c (read_lock_irq, write_lock_irq, ...) become raw_spin_lock_irq and friends: in
// the model they follow the declared type, so the declaration is the whole patch.
//
//   lockstep check --patch examples/raw-gpc-lock.csx

sealed class RawGpcLock : KvmMain
{
    public RawGpcLock(Mm mm) : base(mm) { }

    public override LockType gfn_to_pfn_cache_lock => LockType.raw_spinlock_t;
}

Register(new Proposal("raw-gpc-lock", "gpc->lock becomes raw_spinlock_t", "examples/raw-gpc-lock.csx")
{
    Kvm = m => new RawGpcLock(m),
});
