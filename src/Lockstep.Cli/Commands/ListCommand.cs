using Lockstep.Models;

namespace Lockstep.Cli.Commands;

public static class ListCommand
{
    public static int Run(string[] args)
    {
        var o = Options.Parse(args, new HashSet<string>(ModelOptions.Names), new HashSet<string>());
        var registry = ModelOptions.Load(o);
        Console.WriteLine("proposals:");
        foreach (var p in registry.Proposals) Console.WriteLine($"  {p.Id,-28} {p.Title}  [{p.Source}]{From(registry.OriginOf(p))}");
        Console.WriteLine("configs:");
        foreach (var c in Suite.Configs) Console.WriteLine($"  {c.Describe()}");
        Console.WriteLine("scenarios:");
        foreach (var s in registry.Scenarios) Console.WriteLine($"  {s.Id,-22} {s.Description}{From(registry.OriginOf(s))}");
        Console.WriteLine("properties:");
        foreach (var (id, text) in Properties.All) Console.WriteLine($"  {id}  {text}");
        return 0;
    }

    private static string From(Origin origin) => origin == Origin.BuiltIn ? "" : $"  (from {origin})";
}
