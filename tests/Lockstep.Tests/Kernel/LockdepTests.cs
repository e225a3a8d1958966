using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Tests.Kernel.KernelHarness;
using K = Lockstep.Kernel.Kernel;

namespace Lockstep.Tests.Kernel;

/// <summary>Lockdep (KERNEL-FACTS §4.4, §4.5): each report both ways.</summary>
public class LockdepTests
{
    [Fact]
    public void SrcuSynchronizeInsideOwnReadSideIsRecursiveLockingAndARealDeadlock()
    {
        static async SimTask Model(K k)
        {
            var srcu = new srcu_struct(k, "srcu");
            var t = k.kthread_run(async () =>
            {
                int id;
                using (KernelFunction.Enter("__mmu_notifier_oom_enter"))
                    id = await srcu_read_lock(srcu);
                using (KernelFunction.Enter("mmu_notifier_unregister"))
                    await synchronize_srcu(srcu);
                await srcu_read_unlock(srcu, id);
            }, "oom_killer", 4000);
            await t.Exited!.Value.Join();
        }
        var r = Check(KernelConfig.Default, Model);
        var report = Single(r, "lockdep-recursive");
        Assert.Equal(["S3"], Lockstep.Models.Properties.Of(report.Kind));
        Assert.Contains("WARNING: possible recursive locking detected", report.Text);
        Assert.Matches(@"is trying to acquire lock:\n\S+ \(srcu\)\{\+\.\+\.\}-\{0:0\}, at: __synchronize_srcu", report.Text);
        Assert.Matches(@"but task is already holding lock:\n\S+ \(srcu\)\{\.\+\.\+\}-\{0:0\}, at: __mmu_notifier_oom_enter", report.Text);
        Assert.Contains("  rlock(srcu);\n  lock(srcu);", report.Text);
        Assert.Contains("deadlock", Kinds(r));
    }

    [Fact]
    public void SynchronizingAnotherDomainInsideAReadSideIsClean()
    {
        static async SimTask Model(K k)
        {
            var x = new srcu_struct(k, "&x->srcu");
            var y = new srcu_struct(k, "&y->srcu");
            var t = k.kthread_run(async () =>
            {
                var id = await srcu_read_lock(x);
                await synchronize_srcu(y);
                await srcu_read_unlock(x, id);
            }, "t", 1);
            await t.Exited!.Value.Join();
        }
        Assert.Empty(Check(KernelConfig.Default, Model).Violations);
    }

    /// <summary>The RCU pattern: unpublish, (synchronize), free. A reader that saw the object must not see it freed.</summary>
    private static Func<K, SimTask> UnpublishThenFree(bool synchronize) => async k =>
    {
        var s = new srcu_struct(k, "&s");
        var published = new Shared<bool>("published", true);
        var freed = new Shared<bool>("freed");
        var reader = k.kthread_run(async () =>
        {
            var id = await srcu_read_lock(s);
            var id2 = await srcu_read_lock(s);   // recursive read: fine
            await srcu_read_unlock(s, id2);
            if (await published.Read())
                Sim.Assert(!await freed.Read(), "an object freed under a reader that saw it published");
            await srcu_read_unlock(s, id);
        }, "reader", 2);
        var updater = k.kthread_run(async () =>
        {
            await published.Write(false);
            if (synchronize) await synchronize_srcu(s);
            await freed.Write(true);
        }, "updater", 3);
        await reader.Exited!.Value.Join();
        await updater.Exited!.Value.Join();
    };

    [Fact]
    public void SynchronizeSrcuWaitsForReadersThatBeganBeforeIt()
    {
        var r = Check(KernelConfig.Default, UnpublishThenFree(synchronize: true));
        Assert.Empty(r.Violations);
        Assert.True(r.Exhaustive);
    }

    [Fact]
    public void FreeingWithoutTheGracePeriodIsCaught()
        => Assert.Equal("assertion", Assert.Single(Check(KernelConfig.Default, UnpublishThenFree(synchronize: false)).Violations).Kind);

    [Fact]
    public void AbbaIsReportedEvenWhenNoExecutionDeadlocksAndTheTokenReplaysIt()
    {
        // Whoever wins the flag takes both locks; the loser takes none. No execution takes both orders,
        // none can deadlock, yet across executions lockdep sees A->B and B->A.
        static Func<SimTask> Model(K k) => k.Boot(async () =>
        {
            var a = new mutex(k, "&a");
            var b = new mutex(k, "&b");
            var flag = new Shared<int>("flag");
            async SimTask Take(mutex first, mutex second, int me)
            {
                if (await flag.CompareExchange(0, me) != 0) return;
                await mutex_lock(first);
                await mutex_lock(second);
                await mutex_unlock(second);
                await mutex_unlock(first);
            }
            var t1 = k.kthread_run(() => Take(a, b, 1), "t1", 11);
            var t2 = k.kthread_run(() => Take(b, a, 2), "t2", 12);
            await t1.Exited!.Value.Join();
            await t2.Exited!.Value.Join();
        });
        var r = Explorer.Explore(Model(new K(KernelConfig.Default)), new DporStrategy(), new ExplorationOptions { StopOnFirstViolation = false });
        Assert.DoesNotContain("deadlock", Kinds(r));
        var circ = Single(r, "lockdep-circular");
        Assert.Contains("WARNING: possible circular locking dependency detected", circ.Text);
        Assert.Contains("which lock already depends on the new lock.", circ.Text);
        Assert.Contains("*** DEADLOCK ***", circ.Text);
        Assert.Contains("+", circ.Token);

        // Replaying the token on a fresh kernel (fresh graph) reproduces the report.
        var replay = Explorer.Replay(Model(new K(KernelConfig.Default)), circ.Token);
        Assert.Contains(replay.Violations.OfType<KernelReport>(), v => v.Kind == "lockdep-circular" && v.Text == circ.Text);
    }

    [Fact]
    public void ConsistentOrderIsNotReported()
    {
        static async SimTask Model(K k)
        {
            var a = new mutex(k, "&a");
            var b = new mutex(k, "&b");
            async SimTask Take()
            {
                await mutex_lock(a);
                await mutex_lock(b);
                await mutex_unlock(b);
                await mutex_unlock(a);
            }
            var t1 = k.kthread_run(Take, "t1", 11);
            var t2 = k.kthread_run(Take, "t2", 12);
            await t1.Exited!.Value.Join();
            await t2.Exited!.Value.Join();
        }
        Assert.Empty(Check(KernelConfig.Default, Model).Violations);
    }

    [Fact]
    public void UnlockOfALockNotHeldAndLocksHeldAtExit()
    {
        static async SimTask Model(K k)
        {
            var a = new mutex(k, "&a");
            var b = new mutex(k, "&b");
            var t = k.kthread_run(async () =>
            {
                await mutex_lock(a);
                await mutex_unlock(a);
                await mutex_unlock(a);
                await mutex_lock(b);
            }, "leaky", 13);
            await t.Exited!.Value.Join();
        }
        var r = Check(KernelConfig.Default, Model);
        Assert.Contains("WARNING: bad unlock balance detected!", Single(r, "bad-unlock").Text);
        var exit = Single(r, "held-at-exit");
        Assert.Contains("WARNING: leaky/13 still has locks held!", exit.Text);
        Assert.Contains("1 lock held by leaky/13:", exit.Text);
    }

    /// <summary>
    /// A spinlock_t under a raw_spinlock_t is an invalid wait context wherever lockdep proves raw-lock nesting: on RT, and
    /// on !RT since v6.13 (PROVE_RAW_LOCK_NESTING forced on with PROVE_LOCKING, lib/Kconfig.debug). On v6.12 !RT,
    /// LD_WAIT_CONFIG is LD_WAIT_SPIN and the nesting is legal.
    /// </summary>
    [Theory]
    [InlineData("rt", true)]
    [InlineData("rt@6.12", true)]
    [InlineData("default", true)]
    [InlineData("default@6.13", true)]
    [InlineData("default@6.12", false)]
    public void SpinlockUnderRawSpinlockIsAnInvalidWaitContextWithRawLockNesting(string config, bool reported)
    {
        static async SimTask Model(K k)
        {
            var raw = new raw_spinlock_t(k, "&raw");
            var sl = new spinlock_t(k, "&sleeping_on_rt");
            var t = k.kthread_run(async () =>
            {
                await raw_spin_lock(raw);
                await spin_lock(sl);
                await spin_unlock(sl);
                await raw_spin_unlock(raw);
            }, "t", 14);
            await t.Exited!.Value.Join();
        }
        var r = Check(KernelConfig.Parse(config), Model);
        if (!reported)
        {
            Assert.Empty(r.Violations);
            return;
        }
        var report = Single(r, "invalid-wait-context");
        Assert.Contains("[ BUG: Invalid wait context ]", report.Text);
        Assert.Matches(@"t/14 is trying to lock:\n\S+ \(&sleeping_on_rt\)\{\+\.\+\.\}-\{3:3\}", report.Text);
        Assert.Contains("context-{5:5}", report.Text);
        Assert.Matches(@"#0: \S+ \(&raw\)\{\+\.\+\.\}-\{2:2\}", report.Text);
    }

    /// <summary>
    /// A mutex under a spinning lock is an invalid wait context on every lockdep kernel (check_wait_context runs without
    /// PROVE_RAW_LOCK_NESTING too; then a mutex is LD_WAIT_SLEEP = 3 and the task context 4). A mutex_trylock there is
    /// not: check_wait_context skips trylocks.
    /// </summary>
    [Theory]
    [InlineData("default@6.12", false, "{3:3}", "{2:2}", "context-{4:4}")]
    [InlineData("default", false, "{4:4}", "{3:3}", "context-{5:5}")]
    [InlineData("default@6.12", true, null, null, null)]
    [InlineData("default", true, null, null, null)]
    public void MutexUnderSpinlockIsAnInvalidWaitContextUnlessTried(string config, bool trylock, string? mutexWait, string? spinWait, string? context)
    {
        var r = Check(KernelConfig.Parse(config), async k =>
        {
            var sl = new spinlock_t(k, "&outer");
            var m = new mutex(k, "&inner");
            var t = k.kthread_run(async () =>
            {
                await spin_lock(sl);
                if (!trylock) await mutex_lock(m);
                if (!trylock || await mutex_trylock(m)) await mutex_unlock(m);
                await spin_unlock(sl);
            }, "t", 15);
            await t.Exited!.Value.Join();
        });
        if (trylock)
        {
            Assert.Empty(r.Violations);
            return;
        }
        Assert.Contains("might-sleep", Kinds(r));   // mutex_lock's might_sleep comes first
        var report = Single(r, "invalid-wait-context");
        Assert.Contains($"(&inner){{+.+.}}-{mutexWait}, at: ", report.Text);
        Assert.Contains($"(&outer){{+.+.}}-{spinWait}, at: ", report.Text);
        Assert.Contains(context!, report.Text);
    }

    /// <summary>
    /// check_prevs_add: A, B, C taken nested record A -> B and B -> C, not A -> C (B, a non-trylock lock, already links
    /// C to A). With B taken by trylock, the walk goes past it: B -> C and A -> C (a trylock acquisition records nothing,
    /// so there is no A -> B).
    /// </summary>
    [Theory]
    [InlineData(false, "&a -> &b, &b -> &c")]
    [InlineData(true, "&a -> &c, &b -> &c")]
    public void DependenciesComeFromTheHeldLocksDownToTheFirstNonTrylock(bool trylockB, string expected)
    {
        var kernel = new K(KernelConfig.Default);
        var r = Check(KernelConfig.Default, async k =>
        {
            var a = new mutex(k, "&a");
            var b = new mutex(k, "&b");
            var c = new mutex(k, "&c");
            var t = k.kthread_run(async () =>
            {
                await mutex_lock(a);
                if (trylockB) await mutex_trylock(b);   // uncontended: succeeds
                else await mutex_lock(b);
                await mutex_lock(c);
                await mutex_unlock(c);
                await mutex_unlock(b);
                await mutex_unlock(a);
            }, "t", 16);
            await t.Exited!.Value.Join();
        }, kernel);
        Assert.Empty(r.Violations);
        Assert.Equal(expected, string.Join(", ", kernel.Lockdep.Dependencies.Select(d => $"{d.From} -> {d.To}").Order()));
    }

    /// <summary>
    /// Taken one task after the other: t1 nests A, B, C; t2 takes C then <paramref name="second"/>. C -> A closes the
    /// strong cycle A -> B -> C (lockdep reports it through the chain, with no A -> C recorded); C -> B closes B -> C.
    /// </summary>
    [Theory]
    [InlineData("&a", "Chain exists of:\n  &c --> &b --> &a")]
    [InlineData("&b", null)]
    public void AnInversionThroughTheChainIsStillReported(string second, string? chain)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var locks = new[] { "&a", "&b", "&c" }.ToDictionary(n => n, n => new mutex(k, n));
            var t1 = k.kthread_run(async () =>
            {
                foreach (var n in new[] { "&a", "&b", "&c" }) await mutex_lock(locks[n]);
                foreach (var n in new[] { "&c", "&b", "&a" }) await mutex_unlock(locks[n]);
            }, "t1", 17);
            await t1.Exited!.Value.Join();
            var t2 = k.kthread_run(async () =>
            {
                await mutex_lock(locks["&c"]);
                await mutex_lock(locks[second]);
                await mutex_unlock(locks[second]);
                await mutex_unlock(locks["&c"]);
            }, "t2", 18);
            await t2.Exited!.Value.Join();
        });
        var report = Single(r, "lockdep-circular");
        Assert.Contains($"t2/18 is trying to acquire lock:\n", report.Text);
        Assert.Matches($@"\({second}\)\{{\+\.\+\.\}}-\{{4:4\}}, at: ", report.Text);
        if (chain != null) Assert.Contains(chain, report.Text);
        else Assert.DoesNotContain("Chain exists of:", report.Text);
    }

    /// <summary>
    /// A held recursive reader stops check_prevs_add like any non-trylock lock (since v5.10 recursive reads are in the
    /// graph): A, then srcu_read_lock(S), then C records A -(ER)-> S and S -(SN)-> C but no A -> C, and A -> S -> C is not
    /// a strong path (-(xR)-> then -(Sx)->, Documentation/locking/lockdep-design.rst). So C then A is not reported, while
    /// without the read side between them it is. (The inversion is a real one: lockdep does not see it.)
    /// </summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void AHeldRecursiveReaderEndsTheWalk(bool srcuBetween, bool reported)
    {
        var r = Check(KernelConfig.Default, async k =>
        {
            var a = new mutex(k, "&a");
            var c = new mutex(k, "&c");
            var s = new srcu_struct(k, "&s");
            var t1 = k.kthread_run(async () =>
            {
                await mutex_lock(a);
                var idx = srcuBetween ? await srcu_read_lock(s) : 0;
                await mutex_lock(c);
                await mutex_unlock(c);
                if (srcuBetween) await srcu_read_unlock(s, idx);
                await mutex_unlock(a);
            }, "t1", 19);
            await t1.Exited!.Value.Join();
            var t2 = k.kthread_run(async () =>
            {
                await mutex_lock(c);
                await mutex_lock(a);
                await mutex_unlock(a);
                await mutex_unlock(c);
            }, "t2", 20);
            await t2.Exited!.Value.Join();
        });
        Assert.Equal(reported, Kinds(r).Contains("lockdep-circular"));
    }

    [Fact]
    public void PseudoLockOrdersAreChecked()
    {
        // start-map -> lock recorded by one task; lock -> start-map by another (an interval reader under its lock).
        static async SimTask Model(K k)
        {
            var map = new LockdepMap(k.Lockdep.Class("mmu_notifier_invalidate_range_start", WaitType.Inv));
            var m = new mutex(k, "&driver->lock");
            var t1 = k.kthread_run(async () =>
            {
                lock_map_acquire(map);
                await mutex_lock(m);
                await mutex_unlock(m);
                lock_map_release(map);
            }, "reclaim", 21);
            await t1.Exited!.Value.Join();
            var t2 = k.kthread_run(async () =>
            {
                await mutex_lock(m);
                lock_map_acquire(map);
                lock_map_release(map);
                await mutex_unlock(m);
            }, "driver", 22);
            await t2.Exited!.Value.Join();
        }
        var report = Single(Check(KernelConfig.Default, Model), "lockdep-circular");
        Assert.Contains("(mmu_notifier_invalidate_range_start){+.+.}-{0:0}", report.Text);
    }
}
