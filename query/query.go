// Package query compiles the CEL expressions of GET /api/v1/query?where=
// (cel.dev/cel-go). An expression is evaluated once per candidate entry,
// over the variables listed in Vars; it must be boolean.
package query

import (
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
	lru "github.com/hashicorp/golang-lru/v2"
)

// MaxExprLen bounds a where= expression.
const MaxExprLen = 4096

// costLimit bounds the work one evaluation may do.
const costLimit = 1_000_000

// Vars are the variables an expression can use, with their CEL types.
var Vars = map[string]*cel.Type{
	"index":         cel.IntType,
	"time":          cel.TimestampType,
	"kind":          cel.StringType,
	"type":          cel.StringType,
	"package":       cel.StringType,
	"version":       cel.StringType,
	"signers":       cel.ListType(cel.StringType),
	"subjects":      cel.ListType(cel.StringType),
	"predicateType": cel.StringType,
	"states":        cel.ListType(cel.StringType),
	"predicate":     cel.MapType(cel.StringType, cel.DynType),
	"fields":        cel.MapType(cel.StringType, cel.DynType),
	"erased":        cel.BoolType,
}

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
	cache   *lru.Cache[string, *Filter]
)

func environment() (*cel.Env, error) {
	envOnce.Do(func() {
		var opts []cel.EnvOption
		for name, t := range Vars {
			opts = append(opts, cel.Variable(name, t))
		}
		env, envErr = cel.NewEnv(opts...)
		cache, _ = lru.New[string, *Filter](512)
	})
	return env, envErr
}

// Filter is a compiled where= expression.
type Filter struct {
	Expr string
	prg  cel.Program
	// UsesBody says whether the expression reads the statement
	// (predicate or fields), which then must be loaded.
	UsesBody bool
}

// CompileError is an expression that does not compile; its message names
// the problem.
type CompileError struct{ Msg string }

func (e *CompileError) Error() string { return e.Msg }

// Compile compiles a where= expression (cached).
func Compile(expr string) (*Filter, error) {
	e, err := environment()
	if err != nil {
		return nil, err
	}
	if f, ok := cache.Get(expr); ok {
		return f, nil
	}
	if len(expr) > MaxExprLen {
		return nil, &CompileError{Msg: fmt.Sprintf("where: expression is longer than %d bytes", MaxExprLen)}
	}
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, &CompileError{Msg: "where: " + iss.Err().Error()}
	}
	if ast.OutputType() != cel.BoolType {
		return nil, &CompileError{Msg: fmt.Sprintf("where: the expression must be boolean, not %s", ast.OutputType())}
	}
	prg, err := e.Program(ast, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, &CompileError{Msg: "where: " + err.Error()}
	}
	f := &Filter{Expr: expr, prg: prg}
	refs, _ := cel.AstToCheckedExpr(ast)
	if refs != nil {
		for _, ref := range refs.GetReferenceMap() {
			if n := ref.GetName(); n == "predicate" || n == "fields" {
				f.UsesBody = true
			}
		}
	}
	cache.Add(expr, f)
	return f, nil
}

// Match evaluates the filter over the variables of one entry. An
// evaluation error (say, a field the entry's predicate lacks) is a
// non-match, not a failure.
func (f *Filter) Match(vars map[string]any) bool {
	out, _, err := f.prg.Eval(vars)
	if err != nil {
		return false
	}
	b, ok := out.Value().(bool)
	return ok && b
}
