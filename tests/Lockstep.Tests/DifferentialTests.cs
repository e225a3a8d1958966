using Lockstep.Engine;

namespace Lockstep.Tests;

/// <summary>
/// DPOR against plain enumeration on random small programs (issue 11): threads that read, write, compare-exchange,
/// update and commute-update a few <see cref="Shared{T}"/> ints, without blocking waits. DPOR must reach every final
/// state (the variables and every value a thread observed) that running every interleaving reaches. A conflict the
/// engine cannot see (a plain C# field two threads write) is by construction outside this: the explorer orders only
/// what goes through a <see cref="SimObject"/>, which is why model types keep no such field (SharedStateTests).
/// </summary>
public class DifferentialTests
{
    private enum OpKind { Read, Write, CompareExchange, Update, Commute }

    private sealed record Op(OpKind Kind, int Variable, int A, int B);

    private static List<List<Op>> Generate(int seed)
    {
        var rng = new Random(seed);
        var threads = new List<List<Op>>();
        var n = rng.Next(2, 4);
        for (var t = 0; t < n; t++)
        {
            var ops = new List<Op>();
            var m = rng.Next(1, n == 3 ? 3 : 4);
            for (var i = 0; i < m; i++) ops.Add(new Op((OpKind)rng.Next(5), rng.Next(2), rng.Next(3), rng.Next(3)));
            threads.Add(ops);
        }
        return threads;
    }

    /// <summary>The program as a model; every completed execution adds its final state to <paramref name="finals"/>.</summary>
    private static Func<SimTask> Model(List<List<Op>> program, HashSet<string> finals) => async () =>
    {
        var vars = new[] { new Shared<int>("x"), new Shared<int>("y") };
        var seen = program.Select(_ => new List<int>()).ToArray();
        var threads = program.Select((ops, t) => Sim.Spawn($"t{t}", async () =>
        {
            foreach (var op in ops)
            {
                var v = vars[op.Variable];
                switch (op.Kind)
                {
                    case OpKind.Read: seen[t].Add(await v.Read()); break;
                    case OpKind.Write: await v.Write(op.A); break;
                    case OpKind.CompareExchange: seen[t].Add(await v.CompareExchange(op.A, op.B)); break;
                    case OpKind.Update: seen[t].Add(await v.Update(x => x * 2 + op.A)); break;
                    case OpKind.Commute: await v.Commute(x => x + op.A + 1); break;
                }
            }
        })).ToList();
        foreach (var t in threads) await t.Join();
        finals.Add($"x={vars[0].Peek} y={vars[1].Peek} | {string.Join(" | ", seen.Select(s => string.Join(",", s)))}");
    };

    [Fact]
    public void DporReachesEveryFinalStateThatEnumerationReaches()
    {
        var compared = 0;
        for (var seed = 0; seed < 200; seed++)
        {
            var program = Generate(seed);
            var byDpor = new HashSet<string>();
            var everywhere = new HashSet<string>();
            var dpor = Explorer.Explore(Model(program, byDpor), new DporStrategy());
            var all = Explorer.Explore(Model(program, everywhere), new EnumerationStrategy());
            Assert.True(dpor.Exhaustive && all.Exhaustive);
            Assert.Empty(dpor.Violations);
            Assert.True(everywhere.IsSubsetOf(byDpor),
                $"seed {seed}: DPOR ({dpor.Executions} executions) misses {string.Join("; ", everywhere.Except(byDpor))} of the {all.Executions} interleavings'");
            Assert.True(dpor.Executions <= all.Executions);
            compared++;
        }
        Assert.Equal(200, compared);
    }

    /// <summary>
    /// The comparison can fail: a search that skips interleavings (DPOR bounded to no preemption) misses a final state
    /// of some of the programs.
    /// </summary>
    [Fact]
    public void ASearchThatSkipsInterleavingsIsCaught()
    {
        var caught = 0;
        for (var seed = 0; seed < 50; seed++)
        {
            var program = Generate(seed);
            var byBounded = new HashSet<string>();
            var everywhere = new HashSet<string>();
            Explorer.Explore(Model(program, byBounded), new DporStrategy(preemptionBound: 0));
            Explorer.Explore(Model(program, everywhere), new EnumerationStrategy());
            if (!everywhere.IsSubsetOf(byBounded)) caught++;
        }
        Assert.True(caught > 0);
    }

    /// <summary>The enumeration itself is right: two threads writing x then y reach every combination of last writers.</summary>
    [Fact]
    public void EnumerationRunsEveryInterleaving()
    {
        var program = new List<List<Op>> { new() { new(OpKind.Write, 0, 1, 0), new(OpKind.Write, 1, 1, 0) }, new() { new(OpKind.Write, 0, 2, 0), new(OpKind.Write, 1, 2, 0) } };
        var finals = new HashSet<string>();
        var all = Explorer.Explore(Model(program, finals), new EnumerationStrategy());
        // The main thread's spawns and joins interleave too: count only what distinguishes the two writers' orders.
        Assert.Equal(4, finals.Count);   // x ∈ {1, 2} × y ∈ {1, 2}
        Assert.True(all.Executions >= 6);
    }
}
