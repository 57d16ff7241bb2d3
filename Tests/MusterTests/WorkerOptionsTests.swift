import Testing
@testable import Muster

@Suite struct WorkerOptionsTests {
    @Test func heartbeatsComeEveryThirdOfTheLeaseUnlessSet() throws {
        #expect(try WorkerOptions().heartbeatInterval(forLease: .seconds(30)) == .seconds(10))
        #expect(try WorkerOptions(heartbeatInterval: .milliseconds(200)).heartbeatInterval(forLease: .seconds(60)) == .milliseconds(200))
    }

    @Test func aHeartbeatIntervalNotShorterThanTheLeaseIsRefused() throws {
        for interval in [Duration.seconds(60), .seconds(61)] {
            let error = #expect(throws: MusterError.self) {
                try WorkerOptions(heartbeatInterval: interval).heartbeatInterval(forLease: .seconds(60))
            }
            #expect(error?.code == .invalidArgument)
        }
        for interval in [Duration.zero, .seconds(-1)] {
            let error = #expect(throws: MusterError.self) { try WorkerOptions(heartbeatInterval: interval).validate() }
            #expect(error?.code == .invalidArgument)
        }
    }
}
