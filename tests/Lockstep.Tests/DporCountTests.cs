using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Tests;

/// <summary>DPOR must explore exactly one execution per Mazurkiewicz trace on programs whose trace count is known.</summary>
public class DporCountTests
{
    private static ExplorationResult Dpor(Func<SimTask> model)
    {
        var result = Explorer.Explore(model, new DporStrategy());
        Assert.True(result.Exhaustive, "exploration should complete");
        Assert.Empty(result.Violations);
        return result;
    }

    private static long Factorial(int n) => n <= 1 ? 1 : n * Factorial(n - 1);

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    public void IndependentWritersHaveOneTrace(int n)
    {
        var r = Dpor(Programs.IndependentWriters(n));
        Assert.Equal(1, r.Executions);
        Assert.Equal(0, r.Pruned);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void WritersOfOneVariableHaveNFactorialTraces(int n)
    {
        var r = Dpor(Programs.WritersOfOneVariable(n));
        Assert.Equal(Factorial(n), r.Executions - r.Pruned);
        Assert.Equal(0, r.Pruned);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(6)]
    public void WriterAndReadersHaveTwoToTheNTraces(int n)
    {
        var r = Dpor(Programs.WriterAndReaders(n));
        Assert.Equal(1L << n, r.Executions - r.Pruned);
        Assert.Equal(0, r.Pruned);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void LockedIncrementsHaveNFactorialTraces(int n)
    {
        var r = Dpor(Programs.LockedIncrements(n));
        Assert.Equal(Factorial(n), r.Executions - r.Pruned);
        Assert.Equal(0, r.Pruned);
    }

    /// <summary>lastzero(n)'s trace counts (Abdulla et al., POPL'14): one execution each, none abandoned asleep.</summary>
    [Theory]
    [InlineData(3, 12)]
    [InlineData(4, 28)]
    [InlineData(5, 64)]
    [InlineData(6, 144)]
    [InlineData(7, 320)]
    [InlineData(8, 704)]
    public void LastZeroExploresOneExecutionPerTrace(int n, long traces)
    {
        var r = Dpor(Programs.LastZero(n));
        Assert.Equal(traces, r.Executions);
        Assert.Equal(0, r.Pruned);
    }

    /// <summary>The counts themselves: on small n, running every interleaving finds as many distinct traces as DPOR explores, and DPOR's are distinct.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void LastZeroTracesAreThoseEnumerationFinds(int n)
    {
        var byEnumeration = new HashSet<string>();
        Explorer.Explore(Programs.LastZero(n), new TraceRecording(new EnumerationStrategy(), byEnumeration));
        var byDpor = new HashSet<string>();
        var r = Explorer.Explore(Programs.LastZero(n), new TraceRecording(new DporStrategy(), byDpor));
        Assert.Equal(byEnumeration.Count, r.Executions);
        Assert.True(byEnumeration.SetEquals(byDpor));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void LastZeroExecutionsAreDistinctTraces(int n)
    {
        var traces = new HashSet<string>();
        var r = Explorer.Explore(Programs.LastZero(n), new TraceRecording(new DporStrategy(), traces));
        Assert.Equal(traces.Count, r.Executions);
    }

    /// <summary>
    /// Runs <paramref name="inner"/> and adds each execution's Mazurkiewicz trace in a canonical form: per object, its
    /// accesses in order, the reads between two writes as a set (events named by thread and their index in it).
    /// </summary>
    private sealed class TraceRecording(IStrategy inner, HashSet<string> traces) : IStrategy
    {
        private readonly List<(int Thread, string Op)> _steps = new();

        public string Description => inner.Description;
        public bool NeedsValueHistory => inner.NeedsValueHistory;
        public bool Exhaustive => inner.Exhaustive;

        public bool BeginExecution()
        {
            _steps.Clear();
            return inner.BeginExecution();
        }

        public void OnThreadCreated(int parent, int child) => inner.OnThreadCreated(parent, child);

        public int Choose(in SchedulingState state)
        {
            var t = inner.Choose(state);
            if (t >= 0) _steps.Add((t, state.Threads[t].PendingDescription));
            return t;
        }

        public void EndExecution(ExecutionEnd end)
        {
            if (end != ExecutionEnd.Pruned) traces.Add(Canonical());
            inner.EndExecution(end);
        }

        private string Canonical()
        {
            var index = new Dictionary<int, int>();
            var objects = new SortedDictionary<string, List<List<string>>>(StringComparer.Ordinal);
            foreach (var (t, op) in _steps)
            {
                var name = $"{t}.{index[t] = index.GetValueOrDefault(t) + 1}";
                var (obj, write) = op switch
                {
                    _ when op.StartsWith("Read ") => (op[5..], false),
                    _ when op.StartsWith("Write ") => (op[6..], true),
                    _ when op.StartsWith("waiting on ") => (op[11..], false),   // the joins
                    "exiting" => ($"t{t}.exited", true),
                    _ => ((string?)null, false),
                };
                if (obj == null) continue;
                if (!objects.TryGetValue(obj, out var groups)) objects[obj] = groups = new List<List<string>>();
                if (write || groups.Count == 0 || groups[^1][0].StartsWith('W')) groups.Add(new List<string>());
                groups[^1].Add((write ? "W" : "R") + name);
            }
            return string.Join(" ", objects.Select(o => $"{o.Key}: " + string.Join(" ", o.Value.Select(g => string.Join(",", g.Order())))));
        }
    }
}
