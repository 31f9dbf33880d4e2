import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { FILE_DESCRIPTOR_SET_BASE64 } from '../../../src/gen/descriptor-set';
import type { ServerReflectionRequest, ServerReflectionResponse } from '../../../src/gen/grpc/reflection/v1/reflection';
import { answerReflection, DescriptorIndex } from '../../../src/goplugin/reflection';

const index = DescriptorIndex.fromBase64(FILE_DESCRIPTOR_SET_BASE64);
const SERVICES = [
  'api.FanoutService',
  'grpc.health.v1.Health',
  'plugin.GRPCController',
  'plugin.GRPCStdio',
  'plugin.GRPCBroker',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
];

function ask(messageRequest: ServerReflectionRequest['messageRequest']): ServerReflectionResponse {
  return answerReflection(index, SERVICES, { host: 'h', messageRequest });
}

function fileNames(response: ServerReflectionResponse): string[] {
  const answer = response.messageResponse;
  if (answer?.$case !== 'fileDescriptorResponse') {
    throw new Error(`expected files, got ${JSON.stringify(answer)}`);
  }
  return answer.fileDescriptorResponse.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

function errorCode(response: ServerReflectionResponse): number | undefined {
  return response.messageResponse?.$case === 'errorResponse' ? response.messageResponse.errorResponse.errorCode : undefined;
}

describe('reflection answers from the embedded descriptor set', () => {
  it('indexes every proto file', () => {
    expect(index.fileNames.sort()).toEqual(
      [
        'api/fanout.proto',
        'google/protobuf/empty.proto',
        'google/protobuf/timestamp.proto',
        'grpc/health/v1/health.proto',
        'grpc/reflection/v1/reflection.proto',
        'grpc/reflection/v1alpha/reflection.proto',
        'plugin/go_plugin.proto',
      ].sort(),
    );
  });

  it('lists the registered services and echoes the request', () => {
    const response = ask({ $case: 'listServices', listServices: '*' });
    expect(response.validHost).toBe('h');
    expect(response.originalRequest?.messageRequest).toEqual({ $case: 'listServices', listServices: '*' });
    const answer = response.messageResponse;
    expect(answer?.$case).toBe('listServicesResponse');
    if (answer?.$case === 'listServicesResponse') {
      expect(answer.listServicesResponse.service.map((s) => s.name).sort()).toEqual([...SERVICES].sort());
    }
  });

  it('answers file_by_filename with the file and its dependencies', () => {
    expect(fileNames(ask({ $case: 'fileByFilename', fileByFilename: 'api/fanout.proto' }))).toEqual([
      'api/fanout.proto',
      'google/protobuf/timestamp.proto',
    ]);
    expect(fileNames(ask({ $case: 'fileByFilename', fileByFilename: 'plugin/go_plugin.proto' }))).toEqual([
      'plugin/go_plugin.proto',
      'google/protobuf/empty.proto',
    ]);
    expect(fileNames(ask({ $case: 'fileByFilename', fileByFilename: 'grpc/health/v1/health.proto' }))).toEqual([
      'grpc/health/v1/health.proto',
    ]);
  });

  it.each([
    ['api.FanoutService', 'api/fanout.proto'],
    ['.api.FanoutService', 'api/fanout.proto'],
    ['api.FanoutService.Describe', 'api/fanout.proto'],
    ['api.DescribeResponse', 'api/fanout.proto'],
    ['api.ExecuteRequest.Metadata.WorkflowRun', 'api/fanout.proto'],
    ['api.RegisterResponse.Credentials', 'api/fanout.proto'],
    ['api.DescribeResponse.registration_json_schema', 'api/fanout.proto'],
    ['plugin.StdioData.Channel', 'plugin/go_plugin.proto'],
    ['plugin.StdioData.STDERR', 'plugin/go_plugin.proto'],
    ['plugin.GRPCController.Shutdown', 'plugin/go_plugin.proto'],
    ['grpc.health.v1.HealthCheckResponse.ServingStatus', 'grpc/health/v1/health.proto'],
    ['grpc.health.v1.Health', 'grpc/health/v1/health.proto'],
    ['grpc.reflection.v1.ServerReflection', 'grpc/reflection/v1/reflection.proto'],
    ['grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo', 'grpc/reflection/v1alpha/reflection.proto'],
    ['google.protobuf.Timestamp', 'google/protobuf/timestamp.proto'],
  ])('answers file_containing_symbol %s with %s first', (symbol, file) => {
    const names = fileNames(ask({ $case: 'fileContainingSymbol', fileContainingSymbol: symbol }));
    expect(names[0]).toBe(file);
    expect(new Set(names).size).toBe(names.length);
  });

  it('includes transitive dependencies for a symbol', () => {
    expect(fileNames(ask({ $case: 'fileContainingSymbol', fileContainingSymbol: 'api.ExecuteRequest' }))).toEqual([
      'api/fanout.proto',
      'google/protobuf/timestamp.proto',
    ]);
  });

  it('answers NOT_FOUND for unknown files, symbols and extensions', () => {
    expect(errorCode(ask({ $case: 'fileByFilename', fileByFilename: 'nope.proto' }))).toBe(5);
    expect(errorCode(ask({ $case: 'fileContainingSymbol', fileContainingSymbol: 'api.Nope' }))).toBe(5);
    expect(errorCode(ask({ $case: 'fileContainingSymbol', fileContainingSymbol: 'api' }))).toBe(5);
    expect(
      errorCode(
        ask({
          $case: 'fileContainingExtension',
          fileContainingExtension: { containingType: 'api.DescribeRequest', extensionNumber: 100 },
        }),
      ),
    ).toBe(5);
    expect(errorCode(ask({ $case: 'allExtensionNumbersOfType', allExtensionNumbersOfType: 'api.Nope' }))).toBe(5);
  });

  it('lists no extension numbers for a known message', () => {
    const answer = ask({ $case: 'allExtensionNumbersOfType', allExtensionNumbersOfType: 'api.DescribeRequest' }).messageResponse;
    expect(answer).toEqual({
      $case: 'allExtensionNumbersResponse',
      allExtensionNumbersResponse: { baseTypeName: 'api.DescribeRequest', extensionNumber: [] },
    });
  });

  it('answers INVALID_ARGUMENT for an empty request', () => {
    expect(errorCode(ask(undefined))).toBe(3);
  });

  it('returns FileDescriptorProtos that describe the service methods', () => {
    const response = ask({ $case: 'fileContainingSymbol', fileContainingSymbol: 'api.FanoutService' });
    if (response.messageResponse?.$case !== 'fileDescriptorResponse') throw new Error('no files');
    const file = fromBinary(FileDescriptorProtoSchema, response.messageResponse.fileDescriptorResponse.fileDescriptorProto[0]);
    expect(file.package).toBe('api');
    expect(file.service[0].method.map((m) => m.name)).toEqual([
      'Describe',
      'ValidateRegistration',
      'ValidateAttachment',
      'String',
      'IsSubscribedTo',
      'Register',
      'Attach',
      'Execute',
    ]);
  });
});
