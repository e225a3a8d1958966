using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Tests;

public class ReplayTests
{
    [Fact]
    public void SameSeedGivesSameExecutions()
    {
        string Tokens(IStrategy s)
        {
            var tokens = new List<string>();
            var r = Explorer.Explore(Programs.LostUpdate(3), s, new ExplorationOptions { StopOnFirstViolation = false, Shrink = false });
            return string.Join(",", r.Violations.Select(v => v.Token)) + $"/{r.Executions}/{r.Steps}";
        }
        Assert.Equal(Tokens(new RandomStrategy(42, 300)), Tokens(new RandomStrategy(42, 300)));
        Assert.Equal(Tokens(new PctStrategy(42, 2, 300)), Tokens(new PctStrategy(42, 2, 300)));
        Assert.NotEqual(Tokens(new RandomStrategy(42, 300)), Tokens(new RandomStrategy(43, 300)));
    }

    [Theory]
    [InlineData("lost-update")]
    [InlineData("abba")]
    [InlineData("check-then-act")]
    public void TokenReplaysTheSameFailureAndTrace(string program)
    {
        var model = program switch
        {
            "lost-update" => Programs.LostUpdate(3),
            "abba" => Programs.AbbaDeadlock(),
            _ => Programs.CheckThenAct(),
        };
        var found = Assert.Single(Explorer.Explore(model, new PctStrategy(7, 3, 5_000)).Violations);
        var first = Explorer.Replay(model, found.Token);
        var second = Explorer.Replay(model, found.Token);
        Assert.Null(first.Divergence);
        Assert.Equal(found.Message, Assert.Single(first.Violations).Message);
        Assert.Equal(found.Steps, first.Steps);
        Assert.NotEmpty(first.Trace);
        Assert.Equal(first.Trace, second.Trace);
    }

    [Fact]
    public void ShrinkingFindsTheFewestPreemptions()
    {
        var r = Explorer.Explore(Programs.LostUpdate(4), new RandomStrategy(3, 1_000));
        var v = Assert.Single(r.Violations);
        Assert.Equal(1, v.Preemptions);   // a lost update needs exactly one preemption
        Assert.Equal(v.Message, Assert.Single(Explorer.Replay(Programs.LostUpdate(4), v.Token).Violations).Message);
    }

    [Fact]
    public void ScheduleRoundTrips()
    {
        var choices = new byte[] { 0, 0, 0, 1, 2, 2, 31, 0 };
        Assert.Equal(choices, Schedule.Decode(Schedule.Encode(choices)));
        Assert.Equal(Array.Empty<byte>(), Schedule.Decode(Schedule.Encode(Array.Empty<byte>())));
    }

    [Theory]
    [InlineData("nonsense")]
    [InlineData("s1.!!!")]
    [InlineData("s1.gA")]
    public void MalformedTokensAreFormatErrors(string token)
        => Assert.Throws<FormatException>(() => Schedule.Decode(token));

    [Fact]
    public void ReplayOfAForeignScheduleReportsDivergence()
    {
        var r = Explorer.Replay(Programs.IndependentWriters(2), Schedule.Encode(new byte[] { 9, 9, 9 }));
        Assert.NotNull(r.Divergence);
    }
}
