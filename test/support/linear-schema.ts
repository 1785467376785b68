import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { buildSchema, type GraphQLSchema } from 'graphql';
import * as ts from 'typescript';

/*
 * Linear's GraphQL schema, DERIVED for tests from the type declarations of the `@linear/sdk` dev
 * dependency. The npm package ships no schema.graphql, but `dist/index-*.d.mts` is graphql-codegen
 * output of Linear's full published schema, and this file turns it back into SDL with the TypeScript
 * compiler API, then `buildSchema`s it. What the conversion recovers, and what it does not:
 *
 *   recovered   object types (`type X = { __typename?: "X"; ... }`), the interfaces they implement
 *               (`type X = Node & Entity & { ... }`: every member of such an intersection becomes an
 *               interface), unions (`type U = A | B`), input types (object literals without
 *               __typename), enums (`declare enum`, using the member values, which are the GraphQL
 *               names), custom scalars (the keys of `Scalars`), fields, field arguments (the
 *               `<Type><Field>Args` literals), lists (`Array<>`) and nullability (`Maybe<>` /
 *               `InputMaybe<>` / optional members).
 *   approximated  an optional argument or input field that is not `Maybe<>` is non-null with a
 *               default in the real schema; the default is not in the declarations, so it is
 *               recovered as nullable (queries may omit it either way). Interfaces implementing
 *               other interfaces are recovered only as far as the declarations say so.
 *   lost        descriptions, deprecations, directives, default values, the Subscription type
 *               (the SDK generates no subscription documents).
 *
 * The proof that this is Linear's schema and not an invention is in the Linear contract test: all
 * of the SDK's own operation documents (hundreds, read from `dist/index.mjs`) validate against it
 * with zero errors, and a misspelt field does not.
 */

let cachedSchema: GraphQLSchema | undefined;
let cachedSdl: string | undefined;

/** Where the installed SDK's build lives. */
function sdkDist(): string {
  const req = createRequire(join(process.cwd(), 'package.json'));
  return join(dirname(req.resolve('@linear/sdk/package.json')), 'dist');
}

/** The schema derived from the SDK's declarations (built once per process). */
export function loadLinearSchema(): GraphQLSchema {
  cachedSchema ??= buildSchema(linearSchemaSdl());
  return cachedSchema;
}

/** The derived schema as SDL. */
export function linearSchemaSdl(): string {
  if (cachedSdl === undefined) {
    const dist = sdkDist();
    const file = readdirSync(dist).find((f) => /^index-.*\.d\.mts$/.test(f));
    if (!file) throw new Error(`linear-schema: no index-*.d.mts in ${dist}`);
    cachedSdl = sdlFromDeclarations(readFileSync(join(dist, file), 'utf8'), file);
  }
  return cachedSdl;
}

export interface SdkDocument {
  /** The SDK's constant name, e.g. `IssueDocument`. */
  name: string;
  source: string;
}

/** The SDK's generated operation documents (`const XDocument = new TypedDocumentString(`...`)`), fragments inlined as shipped. */
export function loadLinearSdkDocuments(): SdkDocument[] {
  const path = join(sdkDist(), 'index.mjs');
  const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const docs: SdkDocument[] = [];
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st)) continue;
    for (const d of st.declarationList.declarations) {
      if (!ts.isIdentifier(d.name) || !d.name.text.endsWith('Document') || !d.initializer || !ts.isNewExpression(d.initializer)) continue;
      const ctor = d.initializer.expression;
      const arg = d.initializer.arguments?.[0];
      if (!ts.isIdentifier(ctor) || ctor.text !== 'TypedDocumentString' || !arg || !ts.isNoSubstitutionTemplateLiteral(arg)) continue;
      docs.push({ name: d.name.text, source: arg.text });
    }
  }
  return docs;
}

// ---- conversion ------------------------------------------------------------------------------

interface GqlField {
  name: string;
  type: string;
  args: GqlField[];
}

type Body = { literal: ts.TypeLiteralNode; implements: string[] };

const BUILTIN_SCALARS = new Set(['ID', 'String', 'Boolean', 'Int', 'Float']);

/** Codegen wrappers around a type: `Maybe<T>`, `InputMaybe<T>`. */
const NULLABLE_WRAPPERS = new Set(['Maybe', 'InputMaybe']);

function nameOf(n: ts.PropertyName): string {
  if (ts.isIdentifier(n) || ts.isStringLiteral(n)) return n.text;
  throw new Error(`linear-schema: unsupported member name ${n.getText()}`);
}

/** `__typename?: "X"` of an object literal, if any. */
function typenameOf(lit: ts.TypeLiteralNode): string | undefined {
  for (const m of lit.members) {
    if (!ts.isPropertySignature(m) || nameOf(m.name) !== '__typename' || !m.type) continue;
    if (ts.isLiteralTypeNode(m.type) && ts.isStringLiteral(m.type.literal)) return m.type.literal.text;
  }
  return undefined;
}

/** An alias that is an object literal, or interfaces `&` an object literal. */
function bodyOf(alias: ts.TypeAliasDeclaration): Body | undefined {
  const t = alias.type;
  if (ts.isTypeLiteralNode(t)) return { literal: t, implements: [] };
  if (!ts.isIntersectionTypeNode(t)) return undefined;
  const last = t.types[t.types.length - 1];
  if (!last || !ts.isTypeLiteralNode(last)) return undefined;
  const ifaces: string[] = [];
  for (const part of t.types.slice(0, -1)) {
    if (!ts.isTypeReferenceNode(part) || part.typeArguments || !ts.isIdentifier(part.typeName)) return undefined;
    ifaces.push(part.typeName.text);
  }
  return { literal: last, implements: ifaces };
}

/** A member's GraphQL type: `Maybe<Array<Scalars["String"]>>` → `[String!]`. */
function gqlType(node: ts.TypeNode, optional: boolean, where: string): string {
  const { sdl, nullable } = convert(node, where);
  return nullable || optional ? sdl : `${sdl}!`;
}

function convert(node: ts.TypeNode, where: string): { sdl: string; nullable: boolean } {
  if (ts.isParenthesizedTypeNode(node)) return convert(node.type, where);
  if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
    const name = node.typeName.text;
    const arg = node.typeArguments?.[0];
    if (NULLABLE_WRAPPERS.has(name) && arg) return { sdl: convert(arg, where).sdl, nullable: true };
    if (name === 'Array' && arg) return { sdl: listOf(arg, where), nullable: false };
    if (!node.typeArguments) return { sdl: name, nullable: false };
  }
  if (ts.isArrayTypeNode(node)) return { sdl: listOf(node.elementType, where), nullable: false };
  if (ts.isIndexedAccessTypeNode(node)) return { sdl: scalarName(node, where), nullable: false };
  throw new Error(`linear-schema: cannot convert type \`${node.getText()}\` of ${where}`);
}

function listOf(element: ts.TypeNode, where: string): string {
  const inner = convert(element, where);
  return `[${inner.sdl}${inner.nullable ? '' : '!'}]`;
}

/** `Scalars["String"]`, or the newer codegen's `Scalars["String"]["output"]`. */
function scalarName(node: ts.IndexedAccessTypeNode, where: string): string {
  let n: ts.TypeNode = node;
  while (ts.isIndexedAccessTypeNode(n) && ts.isIndexedAccessTypeNode(n.objectType)) n = n.objectType;
  if (ts.isIndexedAccessTypeNode(n) && ts.isTypeReferenceNode(n.objectType) && ts.isIdentifier(n.objectType.typeName) && n.objectType.typeName.text === 'Scalars') {
    const idx = n.indexType;
    if (ts.isLiteralTypeNode(idx) && ts.isStringLiteral(idx.literal)) return idx.literal.text;
  }
  throw new Error(`linear-schema: cannot convert indexed type \`${node.getText()}\` of ${where}`);
}

function fieldsOf(lit: ts.TypeLiteralNode, owner: string, argsFor?: (field: string) => GqlField[]): GqlField[] {
  const out: GqlField[] = [];
  for (const m of lit.members) {
    if (!ts.isPropertySignature(m) || !m.type) continue;
    const name = nameOf(m.name);
    if (name === '__typename') continue;
    out.push({ name, type: gqlType(m.type, m.questionToken !== undefined, `${owner}.${name}`), args: argsFor?.(name) ?? [] });
  }
  return out;
}

function renderFields(fields: readonly GqlField[]): string {
  return fields
    .map((f) => {
      const args = f.args.length ? `(${f.args.map((a) => `${a.name}: ${a.type}`).join(', ')})` : '';
      return `  ${f.name}${args}: ${f.type}`;
    })
    .join('\n');
}

/** codegen TypeScript declarations → SDL. Only the region generated from the schema is read. */
export function sdlFromDeclarations(text: string, fileName = 'index.d.mts'): string {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  // The bundle appends hand-written webhook helpers after the generated region; stop there.
  const start = text.indexOf('//#region src/_generated_documents');
  const end = start >= 0 ? text.indexOf('//#endregion', start) : -1;
  const inRegion = (n: ts.Node): boolean => start < 0 || (n.pos >= start && (end < 0 || n.end <= end));

  const aliases = new Map<string, ts.TypeAliasDeclaration>();
  const enums = new Map<string, ts.EnumDeclaration>();
  for (const st of sf.statements) {
    if (!inRegion(st)) continue;
    if (ts.isTypeAliasDeclaration(st)) aliases.set(st.name.text, st);
    else if (ts.isEnumDeclaration(st)) enums.set(st.name.text, st);
  }

  const scalarsAlias = aliases.get('Scalars');
  if (!scalarsAlias || !ts.isTypeLiteralNode(scalarsAlias.type)) throw new Error('linear-schema: no `Scalars` type in the declarations');
  const scalars = scalarsAlias.type.members.filter(ts.isPropertySignature).map((m) => nameOf(m.name));

  // Object types name themselves in __typename; operation results and fragments never match their alias name.
  const objects = new Map<string, Body>();
  const untyped = new Map<string, Body>();
  for (const [name, alias] of aliases) {
    if (name === 'Scalars') continue;
    const body = bodyOf(alias);
    if (!body) continue;
    const tn = typenameOf(body.literal);
    if (tn === name) objects.set(name, body);
    else if (tn === undefined) untyped.set(name, body);
  }

  // Members of an object's intersection are interfaces, and so is any untyped literal an output field returns.
  const interfaces = new Map<string, Body>();
  const markInterface = (n: string): void => {
    const b = untyped.get(n);
    if (!b || interfaces.has(n)) return;
    interfaces.set(n, b);
    b.implements.forEach(markInterface);
  };
  for (const b of objects.values()) b.implements.forEach(markInterface);
  const outputRefs = (b: Body): string[] =>
    b.literal.members.filter(ts.isPropertySignature).flatMap((m) => (m.type ? [baseName(m.type)].filter((x): x is string => !!x) : []));
  for (let changed = true; changed; ) {
    changed = false;
    for (const b of [...objects.values(), ...interfaces.values()]) {
      for (const ref of outputRefs(b)) {
        if (untyped.has(ref) && !interfaces.has(ref)) {
          markInterface(ref);
          changed = true;
        }
      }
    }
  }

  // `<Type><Field>Args` literals are the argument lists of output fields.
  // codegen pascal-cases the field (`attachmentLinkGitLabMR` → `...GitLabMrArgs`), so match ignoring case.
  const argTypes = new Set<string>();
  const untypedByLowerName = new Map([...untyped.keys()].map((n) => [n.toLowerCase(), n]));
  const argsFor = (owner: string) => (field: string) => {
    const argsName = untypedByLowerName.get(`${owner}${field}Args`.toLowerCase());
    const b = argsName === undefined ? undefined : untyped.get(argsName);
    if (!b || !argsName || interfaces.has(argsName)) return [];
    argTypes.add(argsName);
    return fieldsOf(b.literal, argsName);
  };

  const unions = new Map<string, string[]>();
  for (const [name, alias] of aliases) {
    if (!ts.isUnionTypeNode(alias.type)) continue;
    const members = alias.type.types.map((t) => (ts.isTypeReferenceNode(t) && !t.typeArguments && ts.isIdentifier(t.typeName) ? t.typeName.text : ''));
    if (members.length > 0 && members.every((m) => objects.has(m))) unions.set(name, members);
  }

  const parts: string[] = [];
  for (const s of scalars) if (!BUILTIN_SCALARS.has(s)) parts.push(`scalar ${s}`);
  for (const [name, e] of enums) {
    const values = e.members.map((m) => (m.initializer && ts.isStringLiteral(m.initializer) ? m.initializer.text : nameOf(m.name)));
    parts.push(`enum ${name} {\n${values.map((v) => `  ${v}`).join('\n')}\n}`);
  }
  const fieldsWithInherited = (name: string, b: Body): GqlField[] => {
    const own = fieldsOf(b.literal, name, argsFor(name));
    const seen = new Set(own.map((f) => f.name));
    // A GraphQL object repeats its interfaces' fields; add any the declarations left to the intersection.
    for (const i of b.implements) {
      const ib = interfaces.get(i);
      if (!ib) continue;
      for (const f of fieldsOf(ib.literal, i, argsFor(i))) {
        if (seen.has(f.name)) continue;
        seen.add(f.name);
        own.push(f);
      }
    }
    return own;
  };
  const impl = (b: Body): string => (b.implements.length ? ` implements ${b.implements.filter((i) => interfaces.has(i)).join(' & ')}` : '');
  for (const [name, b] of interfaces) parts.push(`interface ${name}${impl(b)} {\n${renderFields(fieldsWithInherited(name, b))}\n}`);
  for (const [name, b] of objects) parts.push(`type ${name}${impl(b)} {\n${renderFields(fieldsWithInherited(name, b))}\n}`);
  for (const [name, members] of unions) parts.push(`union ${name} = ${members.join(' | ')}`);
  // Inputs last: whatever untyped literal is neither an interface nor an argument list.
  for (const [name, b] of untyped) {
    if (interfaces.has(name) || argTypes.has(name)) continue;
    const fields = fieldsOf(b.literal, name);
    if (fields.length === 0) continue;
    parts.push(`input ${name} {\n${renderFields(fields)}\n}`);
  }
  return `${parts.join('\n\n')}\n`;
}

/** The named type at the bottom of a member's wrappers (`Maybe<Array<X>>` → X). */
function baseName(node: ts.TypeNode): string | undefined {
  if (ts.isParenthesizedTypeNode(node)) return baseName(node.type);
  if (ts.isArrayTypeNode(node)) return baseName(node.elementType);
  if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
    const arg = node.typeArguments?.[0];
    if (arg && (NULLABLE_WRAPPERS.has(node.typeName.text) || node.typeName.text === 'Array')) return baseName(arg);
    return node.typeArguments ? undefined : node.typeName.text;
  }
  return undefined;
}
