// The shapes the client hands out, named once. Every response shape comes
// from the contract (openapi.gen.ts, generated from openapi.yaml); the few
// types declared here describe what the client itself adds (bytes instead of
// text-or-base64, the zxid a read was answered at), built from those shapes.
import type { components, operations } from '../openapi.gen.ts'

type Schemas = components['schemas']

export type Stat = Schemas['Stat']
export type AclEntry = Schemas['AclEntry']
export type AclView = Schemas['AclView']
export type Children = Schemas['Children']
export type WriteResult = Schemas['WriteResult']
export type DeleteResult = Schemas['DeleteResult']
export type MultiOp = Schemas['MultiOp']
export type CreateOp = Schemas['CreateOp']
export type MultiResponse = Schemas['MultiResponse']
export type MultiOpResult = Schemas['MultiOpResult']
export type MultiOpFailure = Schemas['MultiOpFailure']
export type ReadOp = Schemas['ReadOp']
export type ReadResult = Schemas['MultiReadResponse']['results'][number]
export type NewSession = Schemas['NewSession']
export type ClosedSession = Schemas['ClosedSession']
export type Ephemerals = Schemas['Ephemerals']
export type ClusterStatus = Schemas['ClusterStatus']
export type Health = Schemas['Health']
export type WatchEvent = Schemas['WatchEvent']
export type Problem = Schemas['Problem']
export type DataEncoding = Schemas['DataEncoding']
export type Znode = Schemas['Znode']
export type ZnodeStat = Schemas['ZnodeStat']
export type Descendants = Schemas['Descendants']
export type MultiReadResponse = Schemas['MultiReadResponse']
export type SyncResult = Schemas['SyncResult']

/** data, exists or children: what a one-shot watch waits for. */
export type WatchKind = NonNullable<NonNullable<operations['readZnode']['parameters']['query']>['watch']>

/** Znode data as the client accepts it: bytes, or text sent as UTF-8. */
export type Data = string | Uint8Array

/** getData's answer: the bytes, the stat, and the zxid the replica had applied (watch from it to miss nothing). */
export interface DataResult {
  readonly data: Uint8Array
  readonly stat: Stat
  readonly zxid: number
}

/** getData with an encoding: the data as text in that encoding. */
export interface TextDataResult {
  readonly data: string
  readonly encoding: DataEncoding
  readonly stat: Stat
  readonly zxid: number
}

/** One page of getChildren, with the zxid the replica had applied. */
export type ChildrenPage = Children & { readonly zxid: number }
