/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) answered from the
 * FileDescriptorSet embedded at build time, so it works from the one-file
 * bundle (the npm reflection packages read .proto files at run time).
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { DescriptorProto, EnumDescriptorProto, FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import type {
  ServerReflectionRequest,
  ServerReflectionResponse,
  ServerReflectionServer,
} from '../gen/grpc/reflection/v1/reflection';
import type { ServerReflectionServer as ServerReflectionServerV1Alpha } from '../gen/grpc/reflection/v1alpha/reflection';
import { OpenStreams } from './streams';

/**
 * @bufbuild/protobuf's descriptor schemas are built when their module loads
 * (~15 ms): loaded on the first reflection request, not at every launch.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const protobuf = (): typeof import('@bufbuild/protobuf') => require('@bufbuild/protobuf') as typeof import('@bufbuild/protobuf');
const wkt = (): typeof import('@bufbuild/protobuf/wkt') => require('@bufbuild/protobuf/wkt') as typeof import('@bufbuild/protobuf/wkt');
/* eslint-enable @typescript-eslint/no-require-imports */

/** gRPC status codes used in error_response. */
const NOT_FOUND = 5;
const INVALID_ARGUMENT = 3;
const UNIMPLEMENTED = 12;

interface IndexedFile {
  name: string;
  bytes: Uint8Array;
  dependencies: string[];
}

export class DescriptorIndex {
  private readonly files = new Map<string, IndexedFile>();
  /** Fully-qualified symbol (no leading dot) → file name. */
  private readonly symbols = new Map<string, string>();
  private readonly messages = new Set<string>();

  constructor(files: readonly FileDescriptorProto[]) {
    const { toBinary } = protobuf();
    const { FileDescriptorProtoSchema } = wkt();
    for (const file of files) {
      this.files.set(file.name, {
        name: file.name,
        bytes: toBinary(FileDescriptorProtoSchema, file),
        dependencies: [...file.dependency],
      });
      const prefix = file.package ? `${file.package}.` : '';
      for (const message of file.messageType) this.addMessage(file.name, prefix, message);
      for (const enumType of file.enumType) this.addEnum(file.name, prefix, enumType);
      for (const service of file.service) {
        const serviceName = `${prefix}${service.name}`;
        this.symbols.set(serviceName, file.name);
        for (const method of service.method) this.symbols.set(`${serviceName}.${method.name}`, file.name);
      }
      for (const extension of file.extension) this.symbols.set(`${prefix}${extension.name}`, file.name);
    }
  }

  static fromBinary(descriptorSet: Uint8Array): DescriptorIndex {
    return new DescriptorIndex(protobuf().fromBinary(wkt().FileDescriptorSetSchema, descriptorSet).file);
  }

  static fromBase64(descriptorSetBase64: string): DescriptorIndex {
    return DescriptorIndex.fromBinary(new Uint8Array(Buffer.from(descriptorSetBase64, 'base64')));
  }

  private addMessage(file: string, prefix: string, message: DescriptorProto): void {
    const name = `${prefix}${message.name}`;
    this.symbols.set(name, file);
    this.messages.add(name);
    for (const field of message.field) this.symbols.set(`${name}.${field.name}`, file);
    for (const oneof of message.oneofDecl) this.symbols.set(`${name}.${oneof.name}`, file);
    for (const extension of message.extension) this.symbols.set(`${name}.${extension.name}`, file);
    for (const nested of message.nestedType) this.addMessage(file, `${name}.`, nested);
    for (const enumType of message.enumType) this.addEnum(file, `${name}.`, enumType);
  }

  private addEnum(file: string, prefix: string, enumType: EnumDescriptorProto): void {
    this.symbols.set(`${prefix}${enumType.name}`, file);
    // Enum values are scoped as siblings of their enum, as in protobuf.
    for (const value of enumType.value) this.symbols.set(`${prefix}${value.name}`, file);
  }

  get fileNames(): string[] {
    return [...this.files.keys()];
  }

  hasFile(name: string): boolean {
    return this.files.has(name);
  }

  isMessage(symbol: string): boolean {
    return this.messages.has(stripDot(symbol));
  }

  fileForSymbol(symbol: string): string | undefined {
    return this.symbols.get(stripDot(symbol));
  }

  /**
   * The serialized FileDescriptorProto of a file followed by those of all its
   * transitive dependencies (each once, breadth first); undefined when unknown.
   */
  fileWithDependencies(name: string): Uint8Array[] | undefined {
    if (!this.files.has(name)) return undefined;
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const queue = [name];
    while (queue.length > 0) {
      const current = queue.shift() as string;
      if (seen.has(current)) continue;
      seen.add(current);
      const file = this.files.get(current);
      if (!file) continue; // a dependency missing from the set: send what we have
      out.push(file.bytes);
      queue.push(...file.dependencies);
    }
    return out;
  }
}

function stripDot(symbol: string): string {
  return symbol.startsWith('.') ? symbol.slice(1) : symbol;
}

function errorResponse(request: ServerReflectionRequest, code: number, message: string): ServerReflectionResponse {
  return {
    validHost: request.host,
    originalRequest: request,
    messageResponse: { $case: 'errorResponse', errorResponse: { errorCode: code, errorMessage: message } },
  };
}

function filesResponse(request: ServerReflectionRequest, files: Uint8Array[]): ServerReflectionResponse {
  return {
    validHost: request.host,
    originalRequest: request,
    messageResponse: { $case: 'fileDescriptorResponse', fileDescriptorResponse: { fileDescriptorProto: files } },
  };
}

/** Answers one reflection request. `serviceNames` are the services the server registers. */
export function answerReflection(
  index: DescriptorIndex,
  serviceNames: readonly string[],
  request: ServerReflectionRequest,
): ServerReflectionResponse {
  const question = request.messageRequest;
  switch (question?.$case) {
    case 'listServices':
      return {
        validHost: request.host,
        originalRequest: request,
        messageResponse: {
          $case: 'listServicesResponse',
          listServicesResponse: { service: [...serviceNames].sort().map((name) => ({ name })) },
        },
      };
    case 'fileByFilename': {
      const files = index.fileWithDependencies(question.fileByFilename);
      return files
        ? filesResponse(request, files)
        : errorResponse(request, NOT_FOUND, `file not found: ${question.fileByFilename}`);
    }
    case 'fileContainingSymbol': {
      const file = index.fileForSymbol(question.fileContainingSymbol);
      const files = file === undefined ? undefined : index.fileWithDependencies(file);
      return files
        ? filesResponse(request, files)
        : errorResponse(request, NOT_FOUND, `symbol not found: ${question.fileContainingSymbol}`);
    }
    case 'fileContainingExtension': {
      const { containingType, extensionNumber } = question.fileContainingExtension;
      return errorResponse(request, NOT_FOUND, `extension not found: ${containingType} field ${extensionNumber}`);
    }
    case 'allExtensionNumbersOfType': {
      const type = question.allExtensionNumbersOfType;
      if (!index.isMessage(type)) return errorResponse(request, NOT_FOUND, `message type not found: ${type}`);
      return {
        validHost: request.host,
        originalRequest: request,
        messageResponse: {
          $case: 'allExtensionNumbersResponse',
          allExtensionNumbersResponse: { baseTypeName: stripDot(type), extensionNumber: [] },
        },
      };
    }
    case undefined:
      return errorResponse(request, INVALID_ARGUMENT, 'empty reflection request');
    default:
      return errorResponse(request, UNIMPLEMENTED, 'unsupported reflection request');
  }
}

/**
 * The ServerReflectionInfo handler; the same one serves v1 and v1alpha (the
 * two differ only in package). Open streams are ended at shutdown.
 */
export function createReflectionService(
  descriptors: () => DescriptorIndex,
  serviceNames: () => readonly string[],
  open: OpenStreams,
): ServerReflectionServer & ServerReflectionServerV1Alpha {
  return {
    serverReflectionInfo(call: ServerDuplexStream<ServerReflectionRequest, ServerReflectionResponse>) {
      open.add(call);
      call.on('data', (request: ServerReflectionRequest) => {
        try {
          call.write(answerReflection(descriptors(), serviceNames(), request));
        } catch {
          // stream already gone
        }
      });
      call.on('end', () => {
        open.delete(call);
        try {
          call.end();
        } catch {
          // already closed
        }
      });
    },
  };
}
