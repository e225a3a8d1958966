using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Reporting;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using K = Lockstep.Kernel.Kernel;

namespace Lockstep.Tests.Kernel;

/// <summary>The typed trace: what a traced replay of a kernel-layer model records, and how values and events print.</summary>
public class TraceEventTests
{
    private const string Task = "oom_reaper/53";

    /// <summary>
    /// One task: a function with a non-blocking section (a read-side and, in a nested function, a write-side rwlock_t
    /// section, a shared counter updated and written), a read_lock on a lock declared spinlock_t, trylocks that succeed
    /// and fail, an SRCU read side and a lockdep map; it ends by asserting a lock it does not hold (a report to locate).
    /// </summary>
    private static Func<SimTask> Model(K k) => k.Boot(async () =>
    {
        var mmu = new rwlock_t(k, "&kvm->mmu_lock");
        var gpc = new spinlock_t(k, "&gpc->lock");
        var slots = new mutex(k, "&kvm->slots_lock");
        var unheld = new mutex(k, "&kvm->slots_arch_lock");
        var srcu = new srcu_struct(k, "&kvm->srcu");
        var map = new LockdepMap(k.Lockdep.Class("mmu_notifier_invalidate_range_start", WaitType.Inv));
        var count = new Shared<int>("kvm->mn_active_invalidate_count");
        var t = k.kthread_run(async () =>
        {
            using (KernelFunction.Enter("kvm_mmu_notifier_invalidate_range_start"))
            {
                non_block_start();
                await read_lock(mmu);
                await count.Update(static c => c + 1);
                await read_unlock(mmu);
                using (KernelFunction.Enter("kvm_mmu_invalidate_begin"))
                {
                    await write_lock(mmu);
                    await count.Write(5);
                    await write_unlock(mmu);
                }
                non_block_end();
            }
            await read_lock(gpc);   // declared spinlock_t: the converted code calls spin_lock
            await read_unlock(gpc);
            Assert.True(await mutex_trylock(slots));
            Assert.False(await mutex_trylock(slots));
            await mutex_unlock(slots);
            var idx = await srcu_read_lock(srcu);
            await srcu_read_unlock(srcu, idx);
            lock_map_acquire(map);
            lock_map_release(map);
            Sim.Note($"count is {count.Peek}, list {ImmutableList.Create(1, 2)}");
            lockdep_assert_held(unheld);
        }, "oom_reaper", 53);
        await t.Exited!.Value.Join();
    });

    private static ReplayResult Traced()
    {
        var found = Explorer.Explore(Model(new K(KernelConfig.Default)), new DporStrategy());
        var v = Assert.Single(found.Violations);
        var replay = Explorer.Replay(Model(new K(KernelConfig.Default)), v.Token, annotator: TaskContext.Of);
        Assert.Null(replay.Divergence);
        return replay;
    }

    [Fact]
    public void ATracedReplayRecordsTheKernelEventsTyped()
    {
        var replay = Traced();
        var kernel = replay.Trace.Where(e => e.ThreadName == Task).Select(e => e.Data).OfType<KernelTraceData>().ToList();
        Assert.Equal(new KernelTraceData[]
        {
            new FunctionEntered("kvm_mmu_notifier_invalidate_range_start", 0),
            new ContextChange("non_block_start", ContextSection.NonBlock, Opens: true, Count: 1, Depth: 1),
            new LockOperation("read_lock", "&kvm->mmu_lock", LockMode.Read, LockOutcome.Acquired, 1),
            new LockOperation("read_unlock", "&kvm->mmu_lock", LockMode.Read, LockOutcome.Released, 1),
            new FunctionEntered("kvm_mmu_invalidate_begin", 1),
            new LockOperation("write_lock", "&kvm->mmu_lock", LockMode.Write, LockOutcome.Acquired, 2),
            new LockOperation("write_unlock", "&kvm->mmu_lock", LockMode.Write, LockOutcome.Released, 2),
            new FunctionLeft("kvm_mmu_invalidate_begin", 1),
            new ContextChange("non_block_end", ContextSection.NonBlock, Opens: false, Count: 0, Depth: 1),
            new FunctionLeft("kvm_mmu_notifier_invalidate_range_start", 0),
            new LockOperation("spin_lock", "&gpc->lock", LockMode.Write, LockOutcome.Acquired, 0),
            new LockOperation("spin_unlock", "&gpc->lock", LockMode.Write, LockOutcome.Released, 0),
            new LockOperation("mutex_trylock", "&kvm->slots_lock", LockMode.Write, LockOutcome.TrylockSucceeded, 0),
            new LockOperation("mutex_trylock", "&kvm->slots_lock", LockMode.Write, LockOutcome.TrylockFailed, 0),
            new LockOperation("mutex_unlock", "&kvm->slots_lock", LockMode.Write, LockOutcome.Released, 0),
            new SrcuOperation(SrcuOp.ReadLock, "&kvm->srcu", 0),
            new SrcuOperation(SrcuOp.ReadUnlock, "&kvm->srcu", 0),
            new LockOperation("lock_map_acquire", "mmu_notifier_invalidate_range_start", LockMode.Write, LockOutcome.Acquired, 0),
            new LockOperation("lock_map_release", "mmu_notifier_invalidate_range_start", LockMode.Write, LockOutcome.Released, 0),
        }, kernel);

        // the shared counter: an update and a write, with the value before and after
        var counter = replay.Trace.Select(e => e.Data).OfType<SharedAccess>().Where(a => a.Object == "kvm->mn_active_invalidate_count").ToList();
        Assert.Equal(new[]
        {
            new SharedAccess("kvm->mn_active_invalidate_count", SharedAccessKind.Update, "0", "1"),
            new SharedAccess("kvm->mn_active_invalidate_count", SharedAccessKind.Write, "1", "5"),
        }, counter);
        Assert.Equal("write kvm->mn_active_invalidate_count := 5", counter[1].Text);

        // the lock word of the rwlock: its read acquisition follows the read_lock event
        var words = replay.Trace.Select(e => e.Data).OfType<SharedAccess>().Where(a => a.Object == "&kvm->mmu_lock").ToList();
        Assert.Equal(new SharedAccess("&kvm->mmu_lock", SharedAccessKind.Update, "0", "1"), words[0]);

        // the engine's own events and the model's note
        Assert.Equal(ThreadStarted.Instance, replay.Trace.First(e => e.ThreadName == Task).Data);
        Assert.Contains(replay.Trace, e => e.Data is TraceNote { Message: "count is 5, list [1, 2]" });

        // the report (assert-held) is located after the task's last event before it
        var report = Assert.Single(replay.Violations);
        Assert.Equal("assert-held", ((KernelReport)report).Kind);
        Assert.Equal(Task, replay.Trace[report.TracePosition - 1].ThreadName);
        Assert.IsType<TraceNote>(replay.Trace[report.TracePosition - 1].Data);
    }

    [Fact]
    public void TheStepsTakeKindAndDepthFromTheEvents()
    {
        var steps = TraceCapture.Steps(Traced().Trace);
        var mine = steps.Where(s => s.Data is KernelTraceData).ToList();
        Assert.Equal((StepKind.Call, 0, "kvm_mmu_notifier_invalidate_range_start()"), (mine[0].Kind, mine[0].Depth, mine[0].Text));
        Assert.Equal((StepKind.Context, 1, "non_block_start()"), (mine[1].Kind, mine[1].Depth, mine[1].Text));
        Assert.Equal((StepKind.Lock, 1, "read_lock(&kvm->mmu_lock)"), (mine[2].Kind, mine[2].Depth, mine[2].Text));
        Assert.Equal((StepKind.Unlock, 2, "write_unlock(&kvm->mmu_lock)"), (mine[6].Kind, mine[6].Depth, mine[6].Text));
        Assert.Equal(StepKind.Return, mine[7].Kind);
        Assert.False(mine[7].IsShown);
        Assert.Equal((StepKind.Note, "mutex_trylock(&kvm->slots_lock) failed"), (mine[13].Kind, mine[13].Text));
        // an engine event inside a function: the task's stack depth then
        var write = steps.Single(s => s.Data is SharedAccess { Access: SharedAccessKind.Write, Object: "kvm->mn_active_invalidate_count" });
        Assert.Equal((StepKind.Write, 2), (write.Kind, write.Depth));
        // steps follow the trace one to one
        Assert.Equal(Enumerable.Range(0, steps.Count), steps.Select(s => s.Index));

        var lines = TraceText.Lines(Traced().Trace).ToList();
        Assert.Contains(lines, l => l.EndsWith($"  {Task}     kvm_mmu_notifier_invalidate_range_start()", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith($"  {Task}         write_lock(&kvm->mmu_lock)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith($"  {Task}     * write kvm->mn_active_invalidate_count := 5", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("return from", StringComparison.Ordinal));
    }

    [Fact]
    public void TwoReplaysRecordEqualTraces()
    {
        static IEnumerable<(int, int, string, TraceData)> Events(ReplayResult r) => r.Trace.Select(e => (e.Step, e.Thread, e.ThreadName, e.Data));
        Assert.Equal(Events(Traced()), Events(Traced()));
    }

    private sealed class Opaque;

    private sealed record Pair(int Id, IReadOnlyList<string> Names)
    {
        public int Computed => Id * 2;
    }

    private sealed class Presents : ITraceValue
    {
        public string TraceText => "as I like it";
    }

    [Fact]
    public void ValuesPrintWithoutDotNetInternals()
    {
        Assert.Equal("null", TraceFormat.Value(null));
        Assert.Equal("true", TraceFormat.Value(true));
        Assert.Equal("-1", TraceFormat.Value(-1));
        Assert.Equal("1.5", TraceFormat.Value(1.5));
        Assert.Equal("Read", TraceFormat.Value(SharedAccessKind.Read));
        Assert.Equal("[1, 2, 3]", TraceFormat.Value(ImmutableList.Create(1, 2, 3)));
        Assert.Equal("[]", TraceFormat.Value(ImmutableQueue<Opaque>.Empty));
        Assert.Equal("[3 x Opaque]", TraceFormat.Value(new[] { new Opaque(), new Opaque(), new Opaque() }));
        Assert.Equal("[0, 1, 2, 3, 4, 5, 6, 7, +2 more]", TraceFormat.Value(Enumerable.Range(0, 10).ToList()));
        Assert.Equal("{1: a}", TraceFormat.Value(ImmutableDictionary<int, string>.Empty.Add(1, "a")));
        Assert.Equal("(3, fn)", TraceFormat.Value((3L, (Func<int>)(() => 1))));
        Assert.Equal("Pair(Id: 1, Names: [a, b])", TraceFormat.Value(new Pair(1, new List<string> { "a", "b" })));
        Assert.Equal("Opaque", TraceFormat.Value(new Opaque()));
        Assert.Equal("as I like it", TraceFormat.Value(new Presents()));
        Assert.Equal("[as I like it]", TraceFormat.Value(ImmutableList.Create(new Presents())));
        Assert.Equal("[[[[1 item]]]]", TraceFormat.Value(new[] { new[] { new[] { new[] { new[] { 1 } } } } }));
    }

    [Fact]
    public void ANoteFormatsNothingWhenNotTracing()
    {
        var evaluated = 0;
        string Hole() { evaluated++; return "x"; }
        var r = Explorer.Explore(() =>
        {
            Sim.Note($"exploring: {Hole()}");
            return SimTask.CompletedTask;
        }, new DporStrategy());
        Assert.Equal(1, r.Executions);
        Assert.Equal(0, evaluated);
        var replay = Explorer.Replay(() =>
        {
            Sim.Note($"replaying: {Hole()} {new Opaque()}");
            return SimTask.CompletedTask;
        }, Schedule.Encode(Array.Empty<byte>()));
        Assert.Equal(1, evaluated);
        Assert.Contains(replay.Trace, e => e.Data is TraceNote { Message: "replaying: x Opaque" });
    }

    private static readonly string[] Internals = ["System.", "Lockstep.", "`1[", "k__BackingField", " { "];

    /// <summary>
    /// Every built-in proposal on every scenario and config, replayed along the default schedule (the lowest runnable
    /// thread first): no line of the explain text, the HTML viewer or the LKML text shows .NET internals.
    /// </summary>
    [Fact]
    public void NoTraceOfTheModelsShowsDotNetInternals()
    {
        var registry = Registry.WithBuiltIns();
        var events = 0;
        foreach (var proposal in registry.Proposals)
            foreach (var scenario in registry.Scenarios)
                foreach (var config in Suite.Configs)
                {
                    var model = scenario.Model(new K(config), proposal);
                    var replay = Explorer.Replay(model, Schedule.Encode(Array.Empty<byte>()), annotator: TaskContext.Of);
                    events += replay.Trace.Count;
                    var where = $"{proposal.Id} {config.Name} {scenario.Id}";
                    foreach (var line in TraceText.Lines(replay.Trace))
                        foreach (var bad in Internals)
                            Assert.False(line.Contains(bad, StringComparison.Ordinal), $"{where}: '{bad}' in trace line: {line}");
                    var trace = TraceCapture.Build("t", proposal.Id, config.Name, scenario.Id, [], replay, v => Suite.Classify(registry, v, scenario));
                    foreach (var text in new[] { Html.Explain(trace), Lkml.Render(trace) })
                        foreach (var bad in new[] { "System.", "Lockstep.Models", "Lockstep.Kernel", "`1[" })
                            Assert.False(text.Contains(bad, StringComparison.Ordinal), $"{where}: '{bad}' in the HTML or LKML text");
                }
        Assert.True(events > 10_000, $"{events} events");
    }
}
