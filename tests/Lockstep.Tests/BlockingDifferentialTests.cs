using Lockstep.Engine;

namespace Lockstep.Tests;

/// <summary>
/// DPOR against plain enumeration on random small programs with blocking waits (issue 15): threads, some of them
/// daemons, read and write two ints, wait until one has a value, take a token from one (a semaphore's down), take and
/// drop a lock built on a guarded update, and assert on what they read. Every execution's outcome (how it ended, the
/// variables, what each thread observed, which threads were left blocked) that running every interleaving reaches,
/// DPOR must reach too, and nothing else: deadlocks and failed assertions included.
/// </summary>
public class BlockingDifferentialTests
{
    private enum OpKind { Read, Write, WaitUntil, Down, Locked, Assert }

    private sealed record Op(OpKind Kind, int Variable, int A);

    private sealed record Thread(bool Daemon, List<Op> Ops);

    private static List<Thread> Generate(int seed)
    {
        var rng = new Random(seed);
        var threads = new List<Thread>();
        var n = rng.Next(2, 4);
        for (var t = 0; t < n; t++)
        {
            var ops = new List<Op>();
            var m = rng.Next(1, n == 3 ? 3 : 4);
            for (var i = 0; i < m; i++) ops.Add(new Op((OpKind)rng.Next(6), rng.Next(2), rng.Next(3)));
            threads.Add(new Thread(t > 0 && rng.Next(3) == 0, ops));
        }
        return threads;
    }

    /// <summary>What the last execution of the model did, read when it has ended.</summary>
    private sealed class Outcome
    {
        public Shared<int>[] Vars = [];
        public List<int>[] Seen = [];
        public SimThreadHandle[] Threads = [];

        public override string ToString()
            => $"x={Vars[0].Peek} y={Vars[1].Peek} | {string.Join(" | ", Seen.Select(s => string.Join(",", s)))}"
               + $" | blocked: {string.Join(",", Threads.Where(t => !t.Thread.IsFinished).Select(t => t.Thread.Name))}";
    }

    private static Func<SimTask> Model(List<Thread> program, Outcome outcome) => async () =>
    {
        var vars = new[] { new Shared<int>("x"), new Shared<int>("y") };
        var lk = new Shared<int>("lock");
        var seen = program.Select(_ => new List<int>()).ToArray();
        outcome.Vars = vars;
        outcome.Seen = seen;
        outcome.Threads = program.Select((thread, t) =>
        {
            async SimTask Body()
            {
                foreach (var op in thread.Ops)
                {
                    var v = vars[op.Variable];
                    switch (op.Kind)
                    {
                        case OpKind.Read: seen[t].Add(await v.Read()); break;
                        case OpKind.Write: await v.Write(op.A); break;
                        case OpKind.WaitUntil: seen[t].Add(await v.WaitUntil(x => x == op.A)); break;
                        case OpKind.Down: seen[t].Add(await v.WaitAndUpdate(static x => x > 0, static x => x - 1)); break;
                        case OpKind.Locked:
                            await lk.WaitAndUpdate(static x => x == 0, static _ => 1);
                            await v.Write(await v.Read() + op.A);
                            await lk.Write(0);
                            break;
                        case OpKind.Assert:
                            var read = await v.Read();
                            seen[t].Add(read);
                            Sim.Assert(read != op.A, $"t{t} read {read}");
                            break;
                    }
                }
            }
            return thread.Daemon ? Sim.SpawnDaemon($"t{t}", Body) : Sim.Spawn($"t{t}", Body);
        }).ToArray();
        foreach (var (t, i) in outcome.Threads.Select((t, i) => (t, i)))
            if (!program[i].Daemon) await t.Join();
    };

    /// <summary>Runs <paramref name="inner"/> and adds the outcome of every execution it does not abandon.</summary>
    private sealed class Recording(IStrategy inner, Outcome outcome, HashSet<string> outcomes) : IStrategy
    {
        public string Description => inner.Description;
        public bool NeedsValueHistory => inner.NeedsValueHistory;
        public bool Exhaustive => inner.Exhaustive;
        public bool BeginExecution() => inner.BeginExecution();
        public void OnThreadCreated(int parent, int child) => inner.OnThreadCreated(parent, child);
        public int Choose(in SchedulingState state) => inner.Choose(state);

        public void EndExecution(ExecutionEnd end)
        {
            if (end != ExecutionEnd.Pruned) outcomes.Add($"{end}: {outcome}");
            inner.EndExecution(end);
        }
    }

    private static (ExplorationResult Result, HashSet<string> Outcomes) Explore(List<Thread> program, IStrategy strategy, long limit = long.MaxValue)
    {
        var outcome = new Outcome();
        var outcomes = new HashSet<string>();
        var options = new ExplorationOptions { StopOnFirstViolation = false, Shrink = false, MaxExecutions = limit };
        var result = Explorer.Explore(Model(program, outcome), new Recording(strategy, outcome, outcomes), options);
        return (result, outcomes);
    }

    private static string Show(List<Thread> program) => string.Join(" || ", program.Select((t, i) =>
        $"{(t.Daemon ? "daemon " : "")}t{i}: {string.Join("; ", t.Ops.Select(o => $"{o.Kind} {"xy"[o.Variable]} {o.A}"))}"));

    /// <summary>Programs whose enumeration takes more executions than this are left out (they cost, and find no more).</summary>
    private const int EnumerationLimit = 2_000;

    [Fact]
    public void DporReachesExactlyTheOutcomesAndViolationsOfEnumeration()
    {
        int compared = 0, blocking = 0;
        for (var seed = 0; seed < 300; seed++)
        {
            var program = Generate(seed);
            var (all, everywhere) = Explore(program, new EnumerationStrategy(), EnumerationLimit);
            if (!all.Exhaustive) continue;
            var (dpor, byDpor) = Explore(program, new DporStrategy());
            Assert.True(dpor.Exhaustive);
            Assert.True(everywhere.SetEquals(byDpor),
                $"seed {seed} ({Show(program)}): DPOR ({dpor.Executions} executions) misses "
                + $"[{string.Join("; ", everywhere.Except(byDpor))}] of the {all.Executions} interleavings' and adds [{string.Join("; ", byDpor.Except(everywhere))}]");
            Assert.Equal(all.Violations.Select(v => v.Key).Order(), dpor.Violations.Select(v => v.Key).Order());
            compared++;
            if (everywhere.Any(o => !o.EndsWith("blocked: "))) blocking++;
        }
        Assert.True(compared >= 200, $"only {compared} programs compared");
        Assert.True(blocking >= 150, $"only {blocking} programs leave a thread blocked");
    }
}
