using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Cli.Commands;

/// <summary>lockstep demo: the engine on its own programs, with known answers.</summary>
public static class DemoCommand
{
    private static readonly (string Name, Func<Func<SimTask>> Model)[] Demos =
    {
        ("independent-writers(6)", () => Programs.IndependentWriters(6)),
        ("writers-of-one-variable(5)", () => Programs.WritersOfOneVariable(5)),
        ("writer-and-readers(6)", () => Programs.WriterAndReaders(6)),
        ("locked-increments(4)", () => Programs.LockedIncrements(4)),
        ("lost-update(3)", () => Programs.LostUpdate(3)),
        ("abba-deadlock", Programs.AbbaDeadlock),
        ("check-then-act", Programs.CheckThenAct),
    };

    public static int Run(string[] args)
    {
        var o = Options.Parse(args, new HashSet<string>(StrategyOptions.Names), new HashSet<string>());
        var strategy = StrategyOptions.Factory(o, 10_000);
        var options = StrategyOptions.Exploration(o, 1_000_000);
        foreach (var (name, model) in Demos)
        {
            var r = Explorer.Explore(model(), strategy(), options);
            var verdict = r.Violations.Count == 0 ? "holds" : $"violated: {r.Violations[0].Message}\n      token {r.Violations[0].Token}";
            Console.WriteLine($"{name,-28} {r.Executions,8} executions ({(r.Exhaustive ? "exhaustive" : "bounded")})  {verdict}");
        }
        return 0;
    }
}
