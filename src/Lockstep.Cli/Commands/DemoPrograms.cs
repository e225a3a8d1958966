using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Cli.Commands;

/// <summary>The engine's demo programs by name: what `lockstep demo` runs and `lockstep replay PROGRAM TOKEN` re-runs.</summary>
public static class DemoPrograms
{
    public sealed record Entry(string Name, string Parameters, Func<Func<SimTask>> Model)
    {
        public string Display => Name + Parameters;
    }

    public static readonly IReadOnlyList<Entry> All = new Entry[]
    {
        new("independent-writers", "(6)", () => Programs.IndependentWriters(6)),
        new("writers-of-one-variable", "(5)", () => Programs.WritersOfOneVariable(5)),
        new("writer-and-readers", "(6)", () => Programs.WriterAndReaders(6)),
        new("locked-increments", "(4)", () => Programs.LockedIncrements(4)),
        new("lost-update", "(3)", () => Programs.LostUpdate(3)),
        new("abba-deadlock", "", Programs.AbbaDeadlock),
        new("check-then-act", "", Programs.CheckThenAct),
    };

    /// <summary>By name, with or without its parameters ("lost-update" or "lost-update(3)").</summary>
    public static Entry Find(string name)
        => All.FirstOrDefault(e => e.Name == name || e.Display == name)
           ?? throw new UsageException($"unknown program '{name}' (known: {string.Join(", ", All.Select(e => e.Name))})");
}
